"""Trial lessons (试听) of leads, booked three ways (as 校管家 does):

- ``class_session``: the lead joins one session of an existing class (a seat counted against the
  class's cap for that session, and the lead's own timetable checked);
- ``trial_slot``: a one-off slot (time, teacher, room, course) made for the trial: a trial class
  with one session, checked for clashes like any session;
- ``request``: the lead asks for a trial (wished times in ``preferred``); the front desk later
  schedules it into a session (``POST /trials/<id>/schedule``).

Attendance comes from roll call or ``POST /trials/<id>/attend``; the consultant records feedback;
``convert`` enrols the lead in a class. Events ``trial.booked`` and ``trial.attended`` are emitted
in the write's transaction.
"""

from __future__ import annotations

from flask_babel import gettext as _

from crm_core.plugin_api import APIError, create_record, emit, record_dict, record_written, utcnow

from . import enrolments, scheduling, sessions, waitlist
from .models import Course, Klass, Session, Trial

RESOURCE = "education.trials"
#: trials roll call can mark (seated, or marked once and being corrected)
MARKABLE = ("booked", "attended", "no_show")


def seat(trial: Trial, session: Session) -> None:
    """Seat a trial in a session: 409 when the session is not bookable, full, or clashes with the
    lead's timetable. Locks the class and the lead first."""
    if session.status != "scheduled":
        raise APIError(
            409, _("Only a scheduled session can be booked."), errors={"session_id": [_("Not scheduled.")]}
        )
    klass = session.klass
    scheduling.lock(("class", klass.id), ("student", trial.customer_id))
    if (
        Trial.select()
        .where(
            Trial.session == session.id,
            Trial.customer_id == trial.customer_id,
            Trial.status.in_(scheduling.SEATED_TRIALS),
            Trial.id != (trial.id or 0),
        )
        .exists()
    ):
        raise APIError(
            409, _("The lead is already booked into this session."), errors={"session_id": [_("Booked.")]}
        )
    cap = scheduling.capacity_of(klass)
    if scheduling.seats_taken(klass, session.id) >= cap:
        raise APIError(
            409, _("The session is full (%(cap)s seats).", cap=cap), errors={"session_id": [_("Full.")]}
        )
    found = scheduling.student_clashes(trial.customer_id, [session])
    if found:
        raise scheduling.clash_error(found)
    trial.session = session.id
    trial.course = klass.course_id
    trial.status = "booked"
    trial.booked_at = utcnow()


def trial_slot(data: dict, actor) -> Session:
    """A trial class and its one session for a one-off slot, through the write path (its clash
    checks are the sessions')."""
    missing = {
        k: [_("Required for a trial slot.")] for k in ("starts_at", "ends_at", "course_id") if not data.get(k)
    }
    if missing:
        raise APIError(422, _("A trial slot needs a time and a course."), errors=missing)
    course = Course.get_or_none(Course.id == data["course_id"])
    if course is None:
        raise APIError(422, _("No such course."), errors={"course_id": [_("Unknown course.")]})
    klass = create_record(
        "education.classes",
        Klass,
        {
            "name": _("Trial: %(course)s", course=course.name),
            "course_id": course.id,
            "teacher_id": data.get("teacher_id"),
            "room_id": data.get("room_id"),
            "capacity": 1,
            "is_trial": True,
            "department_id": data.get("department_id"),
        },
        actor,
    )
    return create_record(
        "education.sessions",
        Session,
        {"class_id": klass.id, "starts_at": data["starts_at"], "ends_at": data["ends_at"]},
        actor,
        before_save=sessions.prepare_session,
    )


def prepare_trial(record: Trial, data: dict, before: dict | None) -> None:
    """Before a trial is inserted: seat it (class session, trial slot) or keep it as a request."""
    actor = data.get("_actor")
    enrolments.campus_of_student(record, data, before)
    if record.kind == "request":
        record.status, record.session = "requested", None
        return
    if record.kind == "trial_slot":
        session = trial_slot(data, actor)
    else:
        session = Session.get_or_none(Session.id == data.get("session_id"))
        if session is None:
            raise APIError(422, _("No such session."), errors={"session_id": [_("Unknown session.")]})
    seat(record, session)


def announce_booked(trial: Trial, actor=None) -> None:
    """``trial.booked`` in the booking's transaction."""
    emit(
        "trial.booked",
        {
            "trial_id": trial.id,
            "customer_id": trial.customer_id,
            "kind": trial.kind,
            "session_id": trial.session_id,
            "course_id": trial.course_id,
            "owner_id": trial.owner_id,
            "department_id": trial.department_id,
        },
        actor=actor,
        resource=RESOURCE,
    )


def after_create(record: Trial, data: dict, before: dict | None) -> None:
    """A seated trial is booked at once; a request is booked when scheduled."""
    if record.status == "booked":
        announce_booked(record, data.get("_actor"))


def mark_attendance(trial: Trial, attended: bool, actor) -> None:
    """Attended or no-show (from roll call or the trial's own endpoint), audited on the trial;
    ``trial.attended`` when attended."""
    if trial.status not in MARKABLE:
        raise APIError(409, _("Only a booked trial can be attended."), errors={"status": [_("Not booked.")]})
    before = record_dict(trial)
    trial.status = "attended" if attended else "no_show"
    trial.attended_at = utcnow() if attended else None
    Trial.update(status=trial.status, attended_at=trial.attended_at, updated_at=utcnow()).where(
        Trial.id == trial.id
    ).execute()
    record_written("attend", RESOURCE, trial, actor, before, record_dict(trial), extra={"event": False})
    if attended:
        emit(
            "trial.attended",
            {
                "trial_id": trial.id,
                "customer_id": trial.customer_id,
                "session_id": trial.session_id,
                "course_id": trial.course_id,
                "owner_id": trial.owner_id,
                "department_id": trial.department_id,
            },
            actor=actor,
            resource=RESOURCE,
        )


def schedule(trial: Trial, session_id: int, actor) -> None:
    """The front desk seats a requested trial in a session (409 when full or clashing)."""
    if trial.status != "requested":
        raise APIError(
            409, _("Only a requested trial is scheduled."), errors={"status": [_("Not requested.")]}
        )
    session = Session.get_or_none(Session.id == session_id)
    if session is None:
        raise APIError(422, _("No such session."), errors={"session_id": [_("Unknown session.")]})
    seat(trial, session)
    announce_booked(trial, actor)


def convert(trial: Trial, class_id: int, actor) -> None:
    """Enrol the lead in a class (``enrolment.created``); the trial becomes converted."""
    if trial.status == "converted":
        raise APIError(409, _("The trial is already converted."), errors={"status": [_("Converted.")]})
    if trial.status == "revoked":
        raise APIError(409, _("A revoked trial cannot be converted."), errors={"status": [_("Revoked.")]})
    enrolments.enrol(trial.customer_id, class_id, actor, trial_id=trial.id)
    seated = trial.status in scheduling.SEATED_TRIALS and trial.session_id is not None
    trial.status, trial.converted_at = "converted", utcnow()
    if seated:  # the trial's seat in its session is free now: the session's waiting list gets it
        Trial.update(status="converted").where(Trial.id == trial.id).execute()
        session = Session.get_by_id(trial.session_id)
        waitlist.offer_free(session.klass, actor, session.id)


def revoke(trial: Trial, actor) -> None:
    """Cancel the trial (撤销): a seat it held is offered to the session's waiting list."""
    if trial.status in ("converted", "revoked"):
        raise APIError(409, _("This trial can no longer be revoked."), errors={"status": [_("Final.")]})
    seated = trial.status == "booked" and trial.session_id is not None
    # written now, so the offer below counts the seat as free
    Trial.update(status="revoked").where(Trial.id == trial.id).execute()
    trial.status = "revoked"
    if seated:
        session = Session.get_by_id(trial.session_id)
        waitlist.offer_free(session.klass, actor, session.id)
