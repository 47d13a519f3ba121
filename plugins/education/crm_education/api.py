"""The education REST API under ``/api/v1/education``: the school's catalogue and timetable.

Courses, rooms, holidays, classes and sessions are collections of the core's ``CrudView`` (list
grammar, ETags, idempotent creates, row scopes, field rules, audit and events come with them).
Sessions are checked for clashes in the write path (``sessions.prepare_session``); a term is
generated from a weekly pattern by ``POST /classes/<id>/generate``. Students, packages and roll
call are in :mod:`crm_education.api_students`; trials, follow-ups and metrics in
:mod:`crm_education.api_leads`.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_core.plugin_api import (
    API_PREFIX,
    APIError,
    Blueprint,
    CrudView,
    current_actor,
    get_record,
    json_response,
    register_crud,
    require,
    write_transaction,
)

from . import sessions, waitlist
from .models import Attendance, Course, Holiday, Klass, Room, Session
from .schemas import (
    EducationClassSchema,
    EducationCourseSchema,
    EducationHolidaySchema,
    EducationPatternSchema,
    EducationRoomSchema,
    EducationSessionSchema,
)

blp = Blueprint(
    "education",
    __name__,
    url_prefix=f"{API_PREFIX}/education",
    description="Training school: courses, rooms, classes and clash-free sessions, lesson packages "
    "with an hours ledger, roll call, trial lessons, follow-ups and the enrolment funnel.",
)


def _in_use(model, field, message):
    """A ``before_delete`` refusing (409) while rows of ``model`` refer to the record."""

    def check(record):
        if model.select().where(field == record.id).exists():
            raise APIError(409, str(message), errors={"id": [_("In use.")]})

    return check


register_crud(
    blp,
    "education.courses",
    Course,
    EducationCourseSchema,
    path="/courses",
    name="courses",
    before_delete=_in_use(Klass, Klass.course, _l("Classes teach this course.")),
    description="courses",
)
register_crud(
    blp,
    "education.rooms",
    Room,
    EducationRoomSchema,
    path="/rooms",
    name="rooms",
    before_delete=_in_use(Klass, Klass.room, _l("Classes use this room.")),
    description="rooms",
)
register_crud(
    blp,
    "education.holidays",
    Holiday,
    EducationHolidaySchema,
    path="/holidays",
    name="holidays",
    default_sort="day",
    description="the school's holiday calendar (days generation skips)",
)
register_crud(
    blp,
    "education.classes",
    Klass,
    EducationClassSchema,
    path="/classes",
    name="classes",
    before_delete=_in_use(Session, Session.klass, _l("The class has sessions.")),
    after_save=waitlist.seats_changed,
    description="classes",
)


class Sessions(CrudView):
    """Sessions: every create and every change of time, teacher, room or status is checked for
    clashes under the resources' locks (409 naming what clashes)."""

    resource, model, schema, path, name = (
        "education.sessions",
        Session,
        EducationSessionSchema,
        "/sessions",
        "sessions",
    )
    default_sort = "starts_at"
    description = "sessions (clash-checked: teacher, room and students)"
    before_save = staticmethod(sessions.prepare_session)
    # a session with roll call is the record of hours consumed: cancel it, never delete it
    before_delete = staticmethod(
        _in_use(Attendance, Attendance.session, _l("The session has a roll call; cancel it instead."))
    )


Sessions.mount(blp)


@blp.route("/classes/<int:class_id>/generate", methods=["POST"])
@blp.arguments(EducationPatternSchema)
def generate(data, class_id):
    """Generate a term's sessions from a weekly pattern: holidays skipped, clashing dates reported
    (``clashes``) and left out, the rest created in one transaction (201)."""
    actor = current_actor()
    require(actor, "education.sessions", "create")
    pattern = {**data, "from": data.pop("from_")}
    with write_transaction():
        klass = get_record(Klass, class_id, actor, "education.classes", "update", lock=True)
        report = sessions.generate(klass, pattern, actor)
    return json_response(report, 201)
