"""Tables of the school (all prefixed ``education_``).

Students and leads are the core's customers (the template of :mod:`crm_education.template` adds
their student fields); a consultant is the customer's owner and a campus is a department. Times
are naive UTC instants (``starts_at``/``ends_at``), never a local date and a local time compared
apart: the school's time zone (``EDUCATION_TIMEZONE``) only turns a weekly pattern into instants.

The hours ledger (``HourEntry``) is append-only: a package's balance is the sum of its entries'
``hours``; roll call writes one ``consume`` entry per (package, attendance) and a change of roll
call writes a compensating entry, never an update.
"""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import BaseModel, RecordModel, utcnow

SESSION_STATUSES = ("scheduled", "done", "cancelled")
ENROLMENT_STATUSES = ("active", "withdrawn")
ATTENDANCE_STATUSES = ("present", "absent", "leave")
ENTRY_KINDS = ("purchase", "consume", "transfer_in", "transfer_out", "refund", "reverse")
TRIAL_KINDS = ("class_session", "trial_slot", "request")
TRIAL_STATUSES = ("requested", "booked", "attended", "no_show", "revoked", "converted")
FOLLOW_UP_CHANNELS = ("phone", "wechat", "visit", "sms", "other")
WAITLIST_STATUSES = ("waiting", "offered", "accepted", "declined", "expired", "cancelled")
HOURS = {"max_digits": 10, "decimal_places": 2}
MONEY = {"max_digits": 18, "decimal_places": 2}


class Course(RecordModel):
    """What is taught (a subject at a level); a class teaches one course."""

    crm_entity = "education.courses"
    name = pw.CharField(max_length=200)
    subject = pw.CharField(max_length=100, default="")
    level = pw.CharField(max_length=50, default="")
    hours_per_session = pw.DecimalField(**HOURS, default=1)
    active = pw.BooleanField(default=True)

    class Meta:
        table_name = "education_course"


class Room(RecordModel):
    """A classroom of a campus (``department_id``), with its seats."""

    crm_entity = "education.rooms"
    name = pw.CharField(max_length=200)
    capacity = pw.IntegerField(default=1)

    class Meta:
        table_name = "education_room"


class Holiday(BaseModel):
    """A day the school is closed (in the school's time zone): term generation skips it."""

    day = pw.DateField(unique=True)
    name = pw.CharField(max_length=200, default="")

    class Meta:
        table_name = "education_holiday"


class Klass(RecordModel):
    """A class (班级): a course taught by a teacher (a user) in a room, for a term, at a campus
    (``department_id``). ``capacity`` is the class cap; the effective cap is the smaller of it and
    the room's seats."""

    crm_entity = "education.classes"
    permission_fields = {"owner": "teacher_id"}  # "own" classes are the ones a teacher teaches
    crm_references = {"teacher_id": "users"}  # the write path checks the teacher exists
    name = pw.CharField(max_length=200)
    course = pw.ForeignKeyField(Course, on_delete="RESTRICT", column_name="course_id")
    teacher_id = pw.IntegerField(null=True, index=True)  # a core user (auth_user.id)
    room = pw.ForeignKeyField(Room, null=True, on_delete="RESTRICT", column_name="room_id")
    capacity = pw.IntegerField(default=10)
    term = pw.CharField(max_length=100, default="")
    is_trial = pw.BooleanField(default=False)  # a one-off trial slot's own class

    class Meta:
        table_name = "education_class"


class Session(BaseModel):
    """One meeting of a class: an instant range [starts_at, ends_at) in UTC. Teacher and room are
    copied from the class when not given, so one session can be taught by a substitute."""

    permission_fields = {"owner": "teacher_id"}
    crm_references = {"teacher_id": "users"}

    klass = pw.ForeignKeyField(Klass, on_delete="CASCADE", column_name="class_id", backref="sessions")
    teacher_id = pw.IntegerField(null=True, index=True)
    department_id = pw.IntegerField(null=True, index=True)  # the class's campus
    room = pw.ForeignKeyField(Room, null=True, on_delete="RESTRICT", column_name="room_id")
    day = pw.DateField()  # the local date (school time zone), for the timetable
    starts_at = pw.DateTimeField(index=True)
    ends_at = pw.DateTimeField()
    hours = pw.DecimalField(**HOURS, default=1)  # hours roll call consumes per present student
    status = pw.CharField(max_length=20, default="scheduled", index=True)
    flagged_at = pw.DateTimeField(null=True)  # session.unconfirmed sent (migration 0002)

    class Meta:
        table_name = "education_session"


class Enrolment(RecordModel):
    """A student (a customer) in a class; owner = the consultant who enrolled them."""

    customer_id = pw.IntegerField(index=True)
    klass = pw.ForeignKeyField(Klass, on_delete="RESTRICT", column_name="class_id", backref="enrolments")
    status = pw.CharField(max_length=20, default="active")
    trial = pw.IntegerField(null=True)  # the trial this enrolment converted

    class Meta:
        table_name = "education_enrolment"
        indexes = ((("customer_id", "klass"), True),)


class Package(RecordModel):
    """A lesson package (课时包) bought by a student for a course: hours, price, validity."""

    customer_id = pw.IntegerField(index=True)
    course = pw.ForeignKeyField(Course, on_delete="RESTRICT", column_name="course_id")
    hours = pw.DecimalField(**HOURS)  # hours bought (the purchase entry)
    price = pw.DecimalField(**MONEY)  # paid for them
    valid_from = pw.DateField()
    valid_until = pw.DateField(null=True)
    status = pw.CharField(max_length=20, default="active")  # active, refunded
    low_notified_at = pw.DateTimeField(null=True)
    expiry_notified_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "education_package"


class Attendance(BaseModel):
    """Roll call (点名) of one student at one session; at most one row per pair."""

    session = pw.ForeignKeyField(Session, on_delete="CASCADE", column_name="session_id")
    customer_id = pw.IntegerField(index=True)
    status = pw.CharField(max_length=20)
    trial = pw.IntegerField(null=True)  # a trial attendee consumes no hours
    actor_id = pw.IntegerField(null=True)
    at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "education_attendance"
        indexes = ((("session", "customer_id"), True),)


class HourEntry(BaseModel):
    """One signed change of a package's hours; ``amount`` is the money it recognises (consume)
    or gives back (refund). Unique (package, kind, reference): the same roll call, purchase or
    transfer cannot be written twice."""

    package = pw.ForeignKeyField(Package, on_delete="CASCADE", column_name="package_id", backref="entries")
    kind = pw.CharField(max_length=20)
    hours = pw.DecimalField(**HOURS)
    amount = pw.DecimalField(**MONEY, default=0)
    reference = pw.CharField(max_length=200)
    session_id = pw.IntegerField(null=True, index=True)
    note = pw.CharField(max_length=500, default="")
    actor_id = pw.IntegerField(null=True)
    at = pw.DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "education_hour_entry"
        indexes = ((("package", "kind", "reference"), True),)


class Trial(RecordModel):
    """A trial lesson (试听) of a lead; owner = the consultant."""

    customer_id = pw.IntegerField(index=True)
    kind = pw.CharField(max_length=20)
    course = pw.ForeignKeyField(Course, null=True, on_delete="RESTRICT", column_name="course_id")
    session = pw.ForeignKeyField(Session, null=True, on_delete="RESTRICT", column_name="session_id")
    status = pw.CharField(max_length=20, default="booked", index=True)
    preferred = pw.CharField(max_length=500, default="")  # a request's wished times
    feedback = pw.TextField(default="")
    rating = pw.IntegerField(null=True)
    booked_at = pw.DateTimeField(null=True)
    attended_at = pw.DateTimeField(null=True)
    converted_at = pw.DateTimeField(null=True)
    reminded_at = pw.DateTimeField(null=True)  # trial.reminder sent (migration 0003)

    class Meta:
        table_name = "education_trial"


class FollowUp(RecordModel):
    """A consultant's note on a lead (跟进记录), with the next contact's time."""

    customer_id = pw.IntegerField(index=True)
    channel = pw.CharField(max_length=20, default="phone")
    content = pw.TextField()
    intention = pw.CharField(max_length=10, default="")
    next_contact_at = pw.DateTimeField(null=True, index=True)
    reminded_at = pw.DateTimeField(null=True)  # followup.due sent (migration 0002)

    class Meta:
        table_name = "education_follow_up"


class WaitlistEntry(RecordModel):
    """A place in a full class's waiting list (排队): for a seat in the class (an enrolment) or,
    with ``session``, for a trial seat in one session. ``offered`` holds a freed seat for the
    entry until it is accepted, declined or the offer expires (``offer_expires_at``)."""

    customer_id = pw.IntegerField(index=True)
    klass = pw.ForeignKeyField(Klass, on_delete="CASCADE", column_name="class_id", backref="waitlist")
    session = pw.ForeignKeyField(Session, null=True, on_delete="CASCADE", column_name="session_id")
    status = pw.CharField(max_length=20, default="waiting", index=True)
    note = pw.CharField(max_length=500, default="")
    offered_at = pw.DateTimeField(null=True)
    offer_expires_at = pw.DateTimeField(null=True)
    resolved_at = pw.DateTimeField(null=True)
    result_id = pw.IntegerField(null=True)  # the enrolment or trial the accepted offer made

    class Meta:
        table_name = "education_waitlist"


MODELS = [
    Course,
    Room,
    Holiday,
    Klass,
    Session,
    Enrolment,
    Package,
    Attendance,
    HourEntry,
    Trial,
    FollowUp,
    WaitlistEntry,
]
