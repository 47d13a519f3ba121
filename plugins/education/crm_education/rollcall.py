"""Roll call (点名): the one place hours are consumed.

A mark per student and session (``present``, ``absent``, ``leave``); a present student consumes
the session's hours from their soonest-expiring usable package of the class's course. Running the
same roll call again writes nothing: what a student should have consumed for a session is
compared with what the ledger already holds for that (student, session), and only the difference
is written (a compensating ``reverse`` entry when a mark goes from present to absent). A trial
attendee is marked too (their trial becomes attended or no-show) and consumes nothing.
"""

from __future__ import annotations

from decimal import Decimal

import peewee as pw
from flask_babel import gettext as _

from crm_core.plugin_api import APIError, emit, record_dict, record_written, utcnow

from . import hours, scheduling, trials
from .models import Attendance, Enrolment, HourEntry, Package, Session, Trial


def consumed(customer_id: int, session_id: int) -> dict[int, tuple[Decimal, Decimal]]:
    """``{package_id: (hours, amount)}`` the student's ledger holds for one session (positive:
    consumed)."""
    rows = (
        HourEntry.select(HourEntry.package, pw.fn.SUM(HourEntry.hours), pw.fn.SUM(HourEntry.amount))
        .join(Package)
        .where(HourEntry.session_id == session_id, Package.customer_id == customer_id)
        .group_by(HourEntry.package)
        .tuples()
    )
    return {pid: (-Decimal(h), -Decimal(a)) for pid, h, a in rows if Decimal(h) != 0}


def _reference(package_id: int, session_id: int) -> str:
    n = HourEntry.select().where(HourEntry.package == package_id, HourEntry.session_id == session_id).count()
    return f"session:{session_id}:{n + 1}"


def settle(session: Session, customer_id: int, due: Decimal, actor) -> int | None:
    """Make the ledger hold ``due`` consumed hours for (student, session); returns the package
    charged (None when nothing is due). 409 when no usable package has the hours."""
    held = consumed(customer_id, session.id)
    if sum((h for h, _a in held.values()), Decimal(0)) == due:
        return next(iter(held), None)
    for package_id, (h, a) in held.items():  # give back what was taken, then take what is due
        hours.scheduling.lock(("package", package_id))
        package = Package.get_by_id(package_id)
        hours.write(package, "reverse", h, a, _reference(package_id, session.id), actor, session.id)
    if due == 0:
        return None
    course_id = session.klass.course_id
    candidates = hours.usable(customer_id, course_id, session.day)
    left = hours.balances(p.id for p in candidates)
    chosen = next((p for p in candidates if left[p.id] >= due), None)
    if chosen is None and candidates and hours.settings.get("ALLOW_NEGATIVE_HOURS"):
        chosen = candidates[0]
    if chosen is None:
        raise APIError(
            409,
            _(
                "Student %(id)s has no package with %(hours)s hours for this course.",
                id=customer_id,
                hours=due,
            ),
            errors={"marks": [_("Student %(id)s: not enough hours.", id=customer_id)]},
        )
    hours.take(chosen, due, "consume", _reference(chosen.id, session.id), actor, session.id)
    return chosen.id


def roll_call(session: Session, marks: list[dict], actor) -> dict:
    """Record the marks of a session, consuming hours for the present; inside the caller's write
    transaction. Emits ``lesson.attended`` for each student newly marked present."""
    scheduling.lock(("session", session.id))
    if session.status == "cancelled":
        raise APIError(409, _("A cancelled session has no roll call."), errors={"status": [_("Cancelled.")]})
    enrolled = set(scheduling.student_ids_of_class(session.class_id))
    seated = {
        t.customer_id: t
        for t in Trial.select().where(Trial.session == session.id, Trial.status.in_(trials.MARKABLE))
    }
    unknown = [m["customer_id"] for m in marks if m["customer_id"] not in enrolled | set(seated)]
    if unknown:
        raise APIError(
            422,
            _("Not in this session: %(ids)s.", ids=", ".join(map(str, unknown))),
            errors={
                "marks": [
                    _("Student %(id)s is neither enrolled nor booked for a trial.", id=i) for i in unknown
                ]
            },
        )
    before = record_dict(session)
    existing = {a.customer_id: a for a in Attendance.select().where(Attendance.session == session.id)}
    out = []
    for mark in marks:
        customer_id, status = mark["customer_id"], mark["status"]
        row = existing.get(customer_id)
        was = row.status if row else None
        trial = seated.get(customer_id) if customer_id not in enrolled else None
        if row is None:
            row = Attendance.create(
                session=session.id,
                customer_id=customer_id,
                status=status,
                trial=trial.id if trial else None,
                actor_id=getattr(actor, "id", None),
                at=utcnow(),
            )
        elif was != status:
            row.status, row.actor_id, row.at = status, getattr(actor, "id", None), utcnow()
            row.save()
        package_id = None
        if trial is not None:
            if was != status:
                trials.mark_attendance(trial, status == "present", actor)
        else:
            due = Decimal(session.hours) if status == "present" else Decimal(0)
            package_id = settle(session, customer_id, due, actor)
            if status == "present" and was != "present":
                emit(
                    "lesson.attended",
                    {
                        "session_id": session.id,
                        "class_id": session.class_id,
                        "customer_id": customer_id,
                        "hours": Decimal(session.hours),
                        "package_id": package_id,
                        "attended_at": session.starts_at,
                    },
                    actor=actor,
                    resource="education.sessions",
                )
        out.append(
            {
                "customer_id": customer_id,
                "status": status,
                "package_id": package_id,
                "trial_id": trial.id if trial else None,
            }
        )
    if session.status == "scheduled":
        session.status = "done"
        Session.update(status="done", updated_at=utcnow()).where(Session.id == session.id).execute()
    record_written(
        "roll_call",
        "education.sessions",
        session,
        actor,
        before,
        {**record_dict(session), "marks": [{k: m[k] for k in ("customer_id", "status")} for m in out]},
        extra={"event": False},
    )
    charged = {m["package_id"] for m in out if m["package_id"]}
    left = hours.balances(charged)
    for m in out:
        m["balance"] = str(left[m["package_id"]]) if m["package_id"] else None
    return {"session_id": session.id, "status": session.status, "marks": out}


def roster(session: Session) -> list[dict]:
    """The session's students (enrolled and trial) with their marks."""
    marks = {a.customer_id: a.status for a in Attendance.select().where(Attendance.session == session.id)}
    enrolled = (
        Enrolment.select(Enrolment.customer_id)
        .where(Enrolment.klass == session.class_id, Enrolment.status == "active")
        .order_by(Enrolment.customer_id)
    )
    rows = [
        {"customer_id": e.customer_id, "trial_id": None, "status": marks.get(e.customer_id)} for e in enrolled
    ]
    for t in Trial.select().where(Trial.session == session.id, Trial.status.in_(trials.MARKABLE)):
        rows.append({"customer_id": t.customer_id, "trial_id": t.id, "status": marks.get(t.customer_id)})
    return rows
