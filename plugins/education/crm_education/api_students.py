"""Students' side of the API: enrolments, lesson packages and their hours ledger, roll call.

Resources: ``education.enrolments`` (row-scoped: the consultant who enrolled, the campus),
``education.packages`` (the same; ``price`` is a fee field an admin can hide per role),
``education.hours`` (the ledger: ``read``, ``transfer``, ``refund``; ``amount`` is a fee field)
and ``education.sessions:roll_call``.
"""

from __future__ import annotations

from decimal import Decimal

from flask import request
from flask_babel import gettext as _

from crm_core.plugin_api import (
    APIError,
    CrudView,
    action,
    current_actor,
    get_record,
    json_response,
    mask,
    page_params,
    pagination_header,
    require,
    scoped,
    write_transaction,
)

from . import enrolments, hours, rollcall, settings, waitlist
from .api import blp
from .models import Enrolment, HourEntry, Package, Session, WaitlistEntry
from .report_schemas import EducationStudentHoursSchema
from .schemas import (
    EducationEnrolmentSchema,
    EducationEntrySchema,
    EducationPackageSchema,
    EducationRefundSchema,
    EducationRollCallSchema,
    EducationTransferSchema,
    EducationWaitlistSchema,
)

PACKAGES = "education.packages"
HOURS = "education.hours"


class Enrolments(CrudView):
    """Enrolments: a seat in the class (capacity) and no clash in the student's timetable, both
    checked under locks in the write path; ``enrolment.created`` in its transaction."""

    resource, model, schema, path, name = (
        enrolments.RESOURCE,
        Enrolment,
        EducationEnrolmentSchema,
        "/enrolments",
        "enrolments",
    )
    methods = ("list", "create", "read")
    description = "enrolments of students in classes"
    before_save = staticmethod(enrolments.check_enrolment)
    after_save = staticmethod(enrolments.announce)

    @action("withdraw")
    def withdraw(self, record, data, actor):
        """The student leaves the class (their seat is free again and offered to the first in the
        class's waiting list; the hours stay in their packages)."""
        if record.status != "active":
            raise APIError(409, _("The student has left already."), errors={"status": [_("Withdrawn.")]})
        # written now, so the offer below counts the seat as free
        Enrolment.update(status="withdrawn").where(Enrolment.id == record.id).execute()
        record.status = "withdrawn"
        waitlist.offer_free(record.klass, actor)


Enrolments.mount(blp)


class Waitlist(CrudView):
    """The waiting lists of full classes and sessions: join (only when full), accept an offered
    seat (the enrolment or trial is made then), decline or cancel (the seat passes on)."""

    resource, model, schema, path, name = (
        waitlist.RESOURCE,
        WaitlistEntry,
        EducationWaitlistSchema,
        "/waitlist",
        "waitlist",
    )
    methods = ("list", "create", "read")
    description = "waiting lists of full classes (排队)"
    before_save = staticmethod(waitlist.check_join)
    prefetch = staticmethod(waitlist.with_positions)

    @action("accept")
    def accept(self, record, data, actor):
        """Take the offered seat: the enrolment (or trial booking) is made, checked as any."""
        waitlist.accept(record, actor)

    @action("decline")
    def decline(self, record, data, actor):
        """Give up the place (an offered seat passes to the next in line)."""
        waitlist.release(record, "cancelled" if record.status == "waiting" else "declined", actor)


Waitlist.mount(blp)


def _with_balances(rows):
    left = hours.balances(r.id for r in rows)
    for row in rows:
        row.balance = left[row.id]


class PackageUpdateSchema(EducationPackageSchema):
    """Only the validity and custom fields change after the sale: hours and price are the
    purchase entry of the ledger."""

    class Meta:
        exclude = ("customer_id", "course_id", "hours", "price", "valid_from")


class Packages(CrudView):
    """Lesson packages; creating one writes its purchase entry (+hours, +price) in the ledger."""

    resource, model, schema, path, name = PACKAGES, Package, EducationPackageSchema, "/packages", "packages"
    methods = ("list", "create", "read", "update")
    update_schema = PackageUpdateSchema(partial=True)
    description = "lesson packages (课时包)"
    prefetch = staticmethod(_with_balances)

    @staticmethod
    def before_save(record, data, before):
        """Validity ends after it starts, the hours sold respect the prepaid cap
        (``EDUCATION_MAX_PREPAID_HOURS``); the package is placed at the student's campus."""
        enrolments.campus_of_student(record, data, before)
        cap = settings.get("MAX_PREPAID_HOURS")
        if before is None and cap and Decimal(record.hours) > cap:
            raise APIError(
                422,
                _("At most %(cap)s hours may be prepaid at once.", cap=cap),
                errors={"hours": [_("More than %(cap)s hours.", cap=cap)]},
            )
        if record.valid_until is not None and record.valid_until < record.valid_from:
            raise APIError(
                422,
                _("The package expires before it starts."),
                errors={"valid_until": [_("Before valid_from.")]},
            )

    @staticmethod
    def after_save(record, data, before):
        """The purchase entry, in the package's transaction."""
        if before is None:
            hours.purchase(record, current_actor())


Packages.mount(blp)


def _entries_page(package_id: int, actor):
    page, size = page_params(request.args)
    query = HourEntry.select().where(HourEntry.package == package_id).order_by(HourEntry.id)
    total = query.count()
    rows = list(query.paginate(page, size))
    data = mask(actor, HOURS, EducationEntrySchema(many=True).dump(rows))
    return json_response(data, 200, {"X-Pagination": pagination_header(total, page, size)})


@blp.route("/packages/<int:package_id>/entries")
@blp.response(200, EducationEntrySchema(many=True))
def package_entries(package_id):
    """The package's hours ledger, oldest first (``amount`` hidden where the role hides fees)."""
    actor = current_actor()
    require(actor, HOURS, "read")
    get_record(Package, package_id, actor, PACKAGES)
    return _entries_page(package_id, actor)


@blp.route("/packages/<int:package_id>/transfer", methods=["POST"])
@blp.arguments(EducationTransferSchema)
@blp.response(201, EducationEntrySchema(many=True))
def package_transfer(data, package_id):
    """Move hours and their value to another package (both must be readable; 409 beyond the balance)."""
    actor = current_actor()
    require(actor, HOURS, "transfer")
    with write_transaction():
        source = get_record(Package, package_id, actor, PACKAGES, lock=True)
        target = get_record(Package, data["to_package_id"], actor, PACKAGES, lock=True)
        out, into = hours.transfer(source, target, data["hours"], data["reference"], actor, data["note"])
    body = EducationEntrySchema(many=True).dump([out, into])
    return json_response(mask(actor, HOURS, body), 201)


@blp.route("/packages/<int:package_id>/refund", methods=["POST"])
@blp.arguments(EducationRefundSchema)
@blp.response(201, EducationEntrySchema)
def package_refund(data, package_id):
    """Refund hours (default: every hour left) and their remaining value."""
    actor = current_actor()
    require(actor, HOURS, "refund")
    with write_transaction():
        package = get_record(Package, package_id, actor, PACKAGES, lock=True)
        entry = hours.refund(package, data.get("hours"), data["reference"], actor, data["note"])
    return json_response(mask(actor, HOURS, EducationEntrySchema().dump(entry)), 201)


@blp.route("/students/<int:customer_id>/hours")
@blp.response(200, EducationStudentHoursSchema)
def student_hours(customer_id):
    """A student's packages with their balances (the packages the caller may read)."""
    actor = current_actor()
    require(actor, PACKAGES, "read")
    rows = list(scoped(Package.select().where(Package.customer_id == customer_id), actor, PACKAGES))
    _with_balances(rows)
    data = mask(actor, PACKAGES, EducationPackageSchema(many=True).dump(rows))
    total = sum((Decimal(r.balance) for r in rows), Decimal(0))
    return json_response({"customer_id": customer_id, "balance": str(total), "packages": data})


@blp.route("/sessions/<int:session_id>/roll-call", methods=["POST"])
@blp.arguments(EducationRollCallSchema)
def roll_call(data, session_id):
    """Roll call (点名): marks per student; present students consume the session's hours once
    (running it again changes nothing; a changed mark writes a compensating entry)."""
    actor = current_actor()
    with write_transaction():
        session = get_record(Session, session_id, actor, "education.sessions", "roll_call", lock=True)
        result = rollcall.roll_call(session, data["marks"], actor)
    return json_response(result)


@blp.route("/sessions/<int:session_id>/roster")
def roster(session_id):
    """The session's students (enrolled and trial) with their marks."""
    actor = current_actor()
    session = get_record(Session, session_id, actor, "education.sessions")
    return json_response({"session_id": session.id, "students": rollcall.roster(session)})
