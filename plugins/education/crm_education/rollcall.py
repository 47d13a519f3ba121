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

from . import hours, scheduling, settings, trials
from .models import Attendance, Enrolment, HourEntry, Package, Session, Trial


class Ledgers:
    """What one roll call needs of its students' ledgers, read in a few queries for all of them
    after their packages are locked: per student what the ledger holds for this session (by
    package), their usable packages of the course (soonest to expire first) and every such
    package's remaining hours and value. Kept current as entries are written."""

    def __init__(self, session: Session, students: list[int]):
        self.session = session
        self.held: dict[int, dict[int, tuple[Decimal, Decimal]]] = {s: {} for s in students}
        self.count: dict[int, int] = {}
        self.usable: dict[int, list[Package]] = {s: [] for s in students}
        if not students:
            self.totals: dict[int, tuple[Decimal, Decimal]] = {}
            return
        rows = (
            HourEntry.select(
                Package.customer_id,
                HourEntry.package,
                pw.fn.SUM(HourEntry.hours),
                pw.fn.SUM(HourEntry.amount),
                pw.fn.COUNT(HourEntry.id),
            )
            .join(Package)
            .where(HourEntry.session_id == session.id, Package.customer_id.in_(students))
            .group_by(Package.customer_id, HourEntry.package)
            .tuples()
        )
        for customer_id, package_id, h, a, n in rows:
            self.count[package_id] = n
            if Decimal(h) != 0:
                self.held[customer_id][package_id] = (-Decimal(h), -Decimal(a))
        for package in hours.usable(students, session.klass.course_id, session.day):
            self.usable[package.customer_id].append(package)
        ids = {p.id for ps in self.usable.values() for p in ps} | {p for h in self.held.values() for p in h}
        scheduling.lock(*[("package", i) for i in ids])
        self.totals = hours.totals_of(ids)

    def reference(self, package_id: int) -> str:
        """A new reference for an entry of this session on this package."""
        self.count[package_id] = self.count.get(package_id, 0) + 1
        return f"session:{self.session.id}:{self.count[package_id]}"

    def wrote(self, entry: HourEntry) -> None:
        """Keep the remaining hours and value current after ``entry``."""
        h, v = self.totals.get(entry.package_id, (Decimal(0), Decimal(0)))
        self.totals[entry.package_id] = (h + Decimal(entry.hours), v + Decimal(entry.amount))


def settle(ledgers: Ledgers, customer_id: int, due: Decimal, actor) -> int | None:
    """Make the ledger hold ``due`` consumed hours for (student, session); returns the package
    charged (None when nothing is due). 409 when no usable package has the hours."""
    session = ledgers.session
    held = ledgers.held.get(customer_id, {})
    if sum((h for h, _a in held.values()), Decimal(0)) == due:
        return next(iter(held), None)
    for package_id, (h, a) in held.items():  # give back what was taken, then take what is due
        package = Package.get_by_id(package_id)
        ledgers.wrote(hours.write(package, "reverse", h, a, ledgers.reference(package_id), actor, session.id))
    ledgers.held[customer_id] = {}
    if due == 0:
        return None
    candidates = ledgers.usable.get(customer_id, [])
    chosen = next((p for p in candidates if ledgers.totals[p.id][0] >= due), None)
    if chosen is None and candidates and settings.get("ALLOW_NEGATIVE_HOURS"):
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
    entry = hours.take(
        chosen,
        due,
        "consume",
        ledgers.reference(chosen.id),
        actor,
        session.id,
        known=ledgers.totals[chosen.id],
    )
    ledgers.wrote(entry)
    ledgers.held[customer_id] = {chosen.id: (due, -Decimal(entry.amount))}
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
    ledgers = Ledgers(session, sorted({m["customer_id"] for m in marks if m["customer_id"] in enrolled}))
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
            package_id = settle(ledgers, customer_id, due, actor)
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
    for m in out:
        m["balance"] = (
            str(ledgers.totals[m["package_id"]][0].quantize(hours.CENT)) if m["package_id"] else None
        )
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
