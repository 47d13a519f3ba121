"""Marshmallow schemas of the education API (they also document it in OpenAPI)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from crm_core.plugin_api import UTCDateTime

from .models import (
    ATTENDANCE_STATUSES,
    FOLLOW_UP_CHANNELS,
    SESSION_STATUSES,
    TRIAL_KINDS,
)

HOURS = {"as_string": True, "places": 2, "validate": validate.Range(min=0, max=10**6)}


class RecordFields(Schema):
    """Owner (a consultant or teacher), campus (department) and custom fields of a record."""

    id = fields.Integer(dump_only=True)
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True, metadata={"description": "the campus"})
    custom = fields.Dict(load_default=dict)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class EducationCourseSchema(RecordFields):
    """A course: what is taught."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    subject = fields.String(load_default="", validate=validate.Length(max=100))
    level = fields.String(load_default="", validate=validate.Length(max=50))
    hours_per_session = fields.Decimal(load_default=1, **HOURS)
    active = fields.Boolean(load_default=True)


class EducationRoomSchema(RecordFields):
    """A classroom of a campus."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    capacity = fields.Integer(required=True, validate=validate.Range(min=1, max=10000))


class EducationHolidaySchema(Schema):
    """A closed day of the school (its own time zone)."""

    id = fields.Integer(dump_only=True)
    day = fields.Date(required=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))


class EducationClassSchema(RecordFields):
    """A class: a course, a teacher (a user id), a room, a capacity, a term, a campus."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    course_id = fields.Integer(required=True)
    teacher_id = fields.Integer(allow_none=True)
    room_id = fields.Integer(allow_none=True)
    capacity = fields.Integer(load_default=10, validate=validate.Range(min=1, max=10000))
    term = fields.String(load_default="", validate=validate.Length(max=100))
    is_trial = fields.Boolean(load_default=False)


class EducationSessionSchema(Schema):
    """One meeting of a class, [starts_at, ends_at) in UTC; teacher and room default to the class's."""

    id = fields.Integer(dump_only=True)
    class_id = fields.Integer(required=True)
    teacher_id = fields.Integer(allow_none=True)
    room_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(dump_only=True)
    day = fields.Date(dump_only=True, metadata={"description": "local date in EDUCATION_TIMEZONE"})
    starts_at = UTCDateTime(required=True)
    ends_at = UTCDateTime(required=True)
    hours = fields.Decimal(**HOURS)
    status = fields.String(load_default="scheduled", validate=validate.OneOf(SESSION_STATUSES))
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class EducationPatternSchema(Schema):
    """A weekly pattern: every ``weekdays`` (0 = Monday) from ``from`` to ``until``, ``start`` to
    ``end`` local time; holidays are skipped."""

    from_ = fields.Date(required=True, data_key="from")
    until = fields.Date(required=True)
    weekdays = fields.List(
        fields.Integer(validate=validate.Range(min=0, max=6)),
        required=True,
        validate=validate.Length(min=1, max=7),
    )
    start = fields.Time(required=True)
    end = fields.Time(required=True)
    teacher_id = fields.Integer(allow_none=True)
    room_id = fields.Integer(allow_none=True)
    hours = fields.Decimal(**HOURS)


class EducationEnrolmentSchema(RecordFields):
    """A student (a customer) in a class."""

    customer_id = fields.Integer(required=True)
    class_id = fields.Integer(required=True)
    status = fields.String(dump_only=True)
    trial_id = fields.Integer(dump_only=True, attribute="trial")


class EducationPackageSchema(RecordFields):
    """A lesson package (课时包): hours bought for a course, the price paid, its validity."""

    customer_id = fields.Integer(required=True)
    course_id = fields.Integer(required=True)
    hours = fields.Decimal(
        required=True,
        as_string=True,
        places=2,
        validate=validate.Range(min=0, min_inclusive=False, max=10**5),
    )
    price = fields.Decimal(
        required=True, as_string=True, places=2, validate=validate.Range(min=0, max=10**12)
    )
    valid_from = fields.Date(required=True)
    valid_until = fields.Date(allow_none=True)
    status = fields.String(dump_only=True)
    balance = fields.Decimal(as_string=True, places=2, dump_only=True)


class EducationEntrySchema(Schema):
    """One entry of the hours ledger."""

    id = fields.Integer(dump_only=True)
    package_id = fields.Integer()
    kind = fields.String()
    hours = fields.Decimal(as_string=True, places=2)
    amount = fields.Decimal(as_string=True, places=2)
    reference = fields.String()
    session_id = fields.Integer(allow_none=True)
    note = fields.String()
    actor_id = fields.Integer(allow_none=True)
    at = UTCDateTime()


class EducationTransferSchema(Schema):
    """Move hours to another package of the same student (or a sibling's)."""

    to_package_id = fields.Integer(required=True)
    hours = fields.Decimal(
        required=True,
        as_string=True,
        places=2,
        validate=validate.Range(min=0, min_inclusive=False, max=10**5),
    )
    reference = fields.String(required=True, validate=validate.Length(min=1, max=200))
    note = fields.String(load_default="", validate=validate.Length(max=500))


class EducationRefundSchema(Schema):
    """Refund the remaining hours (or some) of a package."""

    hours = fields.Decimal(as_string=True, places=2, validate=validate.Range(min=0, min_inclusive=False))
    reference = fields.String(required=True, validate=validate.Length(min=1, max=200))
    note = fields.String(load_default="", validate=validate.Length(max=500))


class EducationMarkSchema(Schema):
    """One student's roll-call mark."""

    customer_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ATTENDANCE_STATUSES))


class EducationRollCallSchema(Schema):
    """Roll call of a session: a mark per student (students not listed keep their mark)."""

    marks = fields.List(
        fields.Nested(EducationMarkSchema), required=True, validate=validate.Length(min=1, max=500)
    )


class EducationTrialSchema(RecordFields):
    """A trial lesson of a lead: into a class session, a one-off trial slot, or a request."""

    customer_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(TRIAL_KINDS))
    session_id = fields.Integer(allow_none=True)
    course_id = fields.Integer(allow_none=True)
    # a trial slot's own time, teacher and room
    starts_at = UTCDateTime(load_only=True)
    ends_at = UTCDateTime(load_only=True)
    teacher_id = fields.Integer(load_only=True, allow_none=True)
    room_id = fields.Integer(load_only=True, allow_none=True)
    preferred = fields.String(load_default="", validate=validate.Length(max=500))
    status = fields.String(dump_only=True)
    feedback = fields.String(dump_only=True)
    rating = fields.Integer(dump_only=True)
    booked_at = UTCDateTime(dump_only=True)
    attended_at = UTCDateTime(dump_only=True)
    converted_at = UTCDateTime(dump_only=True)


class EducationScheduleSchema(Schema):
    """The front desk schedules a trial request into a session."""

    session_id = fields.Integer(required=True)


class EducationFeedbackSchema(Schema):
    """The consultant's (or teacher's) feedback after a trial."""

    feedback = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    rating = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=5))


class EducationAttendSchema(Schema):
    """Whether the lead came to the trial."""

    attended = fields.Boolean(load_default=True)


class EducationConvertSchema(Schema):
    """Turn a trial into an enrolment in a class."""

    class_id = fields.Integer(required=True)


class EducationFollowUpSchema(RecordFields):
    """A consultant's note on a lead, with the next contact's time."""

    customer_id = fields.Integer(required=True)
    channel = fields.String(load_default="phone", validate=validate.OneOf(FOLLOW_UP_CHANNELS))
    content = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    intention = fields.String(load_default="", validate=validate.OneOf(("", "A", "B", "C")))
    next_contact_at = UTCDateTime(allow_none=True)


class EducationWaitlistSchema(RecordFields):
    """A place in a full class's (or, with ``session_id``, a session's trial) waiting list."""

    customer_id = fields.Integer(required=True)
    class_id = fields.Integer(required=True)
    session_id = fields.Integer(allow_none=True)
    note = fields.String(load_default="", validate=validate.Length(max=500))
    status = fields.String(dump_only=True)
    position = fields.Integer(dump_only=True, allow_none=True)
    offered_at = UTCDateTime(dump_only=True)
    offer_expires_at = UTCDateTime(dump_only=True)
    resolved_at = UTCDateTime(dump_only=True)
    result_id = fields.Integer(dump_only=True)
