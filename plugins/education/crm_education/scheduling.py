"""Clash detection and the locks that make it hold under concurrency.

Two slots on one resource (a teacher, a room, a student) clash iff ``start1 < end2 and start2 <
end1``: half-open intervals, so back-to-back lessons (one ends at 10:00, the next starts at 10:00)
do not clash, and a lesson that starts with another but ends earlier does (the case Frappe
Education's four-condition query misses). Cancelled sessions never clash.

A check and the insert it allows run in one write transaction holding a lock per resource
involved, taken in a fixed order (no deadlocks between two bookings locking the same pair): on
PostgreSQL a transaction-scoped advisory lock per (kind, id), on SQLite the database write lock
that ``write_transaction`` takes at BEGIN IMMEDIATE. So of two concurrent bookings of one room
slot, the second waits for the first to commit, then sees its session and gets the 409.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from flask_babel import gettext as _

from crm_core.plugin_api import APIError, database, is_postgres

from .models import Enrolment, Session, Trial, WaitlistEntry

#: lock namespaces (the high bits of the advisory lock key), one per kind of resource
LOCK_KINDS = {"teacher": 1, "room": 2, "student": 3, "class": 4, "session": 5, "package": 6}
#: trial statuses that hold a seat and a slot in the student's timetable
SEATED_TRIALS = ("booked", "attended")


def overlaps(start1: dt.datetime, end1: dt.datetime, start2: dt.datetime, end2: dt.datetime) -> bool:
    """The one clash rule: half-open [start, end) intervals overlap."""
    return start1 < end2 and start2 < end1


def lock(*resources: tuple[str, int | None]) -> None:
    """Hold, until the transaction ends, the locks of ``resources`` (``("room", 3)``...), in a fixed
    order. Call inside ``write_transaction()``; on SQLite that transaction already holds the
    database's write lock, which serialises every writer."""
    if not is_postgres():
        return
    keys = sorted({(LOCK_KINDS[kind] << 40) + int(ref) for kind, ref in resources if ref is not None})
    if len(keys) == 1:
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (keys[0],))
    elif keys:  # one round trip; the subquery's order is the order the locks are taken in
        database.execute_sql(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) AS ordered",
            (keys,),
        )


def student_ids_of_class(class_id: int) -> list[int]:
    """The students actively enrolled in a class."""
    query = Enrolment.select(Enrolment.customer_id).where(
        Enrolment.klass == class_id, Enrolment.status == "active"
    )
    return [row.customer_id for row in query]


def _window(query, starts: dt.datetime, ends: dt.datetime):
    return query.where(Session.status != "cancelled", Session.starts_at < ends, Session.ends_at > starts)


def busy_sessions(
    starts: dt.datetime,
    ends: dt.datetime,
    teacher_id: int | None = None,
    room_id: int | None = None,
    student_ids: Iterable[int] = (),
    exclude: Iterable[int] = (),
) -> list[dict]:
    """Every live session between ``starts`` and ``ends`` that occupies the teacher, the room or
    one of the students (as an enrolled student of its class or a booked trial), one dict per
    (resource, session): ``{"resource", "id", "session_id", "starts_at", "ends_at"}``. The caller
    compares each against its own slots with :func:`overlaps`."""
    exclude = list(exclude)
    found: list[dict] = []

    def add(kind, ref, rows):
        for row in rows:
            if row.id not in exclude:
                found.append(
                    {
                        "resource": kind,
                        "id": ref(row),
                        "session_id": row.id,
                        "starts_at": row.starts_at,
                        "ends_at": row.ends_at,
                    }
                )

    fields = (Session.id, Session.starts_at, Session.ends_at)
    if teacher_id is not None:
        q = _window(Session.select(*fields, Session.teacher_id), starts, ends)
        add("teacher", lambda r: r.teacher_id, q.where(Session.teacher_id == teacher_id))
    if room_id is not None:
        q = _window(Session.select(*fields, Session.room), starts, ends)
        add("room", lambda r: r.room_id, q.where(Session.room == room_id))
    students = sorted(set(student_ids))
    if students:
        enrolled = _window(
            Session.select(*fields, Enrolment.customer_id.alias("student"))
            .join(Enrolment, on=(Enrolment.klass == Session.klass))
            .where(Enrolment.customer_id.in_(students), Enrolment.status == "active"),
            starts,
            ends,
        )
        trials = _window(
            Session.select(*fields, Trial.customer_id.alias("student"))
            .join(Trial, on=(Trial.session == Session.id))
            .where(Trial.customer_id.in_(students), Trial.status.in_(SEATED_TRIALS)),
            starts,
            ends,
        )
        add("student", lambda r: r.student, enrolled.objects())
        add("student", lambda r: r.student, trials.objects())
    return found


def clashes_of(slot: tuple[dt.datetime, dt.datetime], busy: list[dict]) -> list[dict]:
    """The busy entries that ``slot`` clashes with."""
    starts, ends = slot
    return [b for b in busy if overlaps(starts, ends, b["starts_at"], b["ends_at"])]


def clash_error(found: list[dict]) -> APIError:
    """The 409 naming what clashes: per resource, the sessions it is already busy with."""
    field = {"teacher": "teacher_id", "room": "room_id", "student": "students", "class": "class_id"}
    label = {"teacher": _("Teacher"), "room": _("Room"), "student": _("Student"), "class": _("Class")}
    errors: dict[str, list[str]] = {}
    for item in found:
        message = _(
            "%(resource)s %(id)s is busy with session %(session)s (%(starts)s to %(ends)s UTC).",
            resource=label[item["resource"]],
            id=item["id"],
            session=item["session_id"],
            starts=item["starts_at"].isoformat(timespec="minutes"),
            ends=item["ends_at"].isoformat(timespec="minutes"),
        )
        errors.setdefault(field[item["resource"]], []).append(message)
    error = APIError(409, _("The slot clashes with another session."), errors=errors)
    error.clashes = found
    return error


def clash_payload(found: list[dict]) -> list[dict]:
    """Clashes as JSON-ready dicts (times in ISO 8601)."""
    return [
        {
            "resource": c["resource"],
            "id": c["id"],
            "session_id": c["session_id"],
            "starts_at": c["starts_at"].isoformat() + "Z",
            "ends_at": c["ends_at"].isoformat() + "Z",
        }
        for c in found
    ]


def check_slot(
    starts: dt.datetime,
    ends: dt.datetime,
    teacher_id: int | None,
    room_id: int | None,
    student_ids: Iterable[int] = (),
    exclude: Iterable[int] = (),
) -> None:
    """409 when [starts, ends) clashes for the teacher, the room or a student; call under
    :func:`lock` of the same resources."""
    if not starts < ends:
        raise APIError(
            422, _("A session must end after it starts."), errors={"ends_at": [_("Must be after starts_at.")]}
        )
    busy = busy_sessions(starts, ends, teacher_id, room_id, student_ids, exclude)
    found = clashes_of((starts, ends), busy)
    if found:
        raise clash_error(found)


def seats_taken(klass, session_id: int | None = None) -> int:
    """Seats in use: the class's active enrolments and the seats its waiting list holds for an
    open offer, plus, for one session, the trials seated in it and the offers held for it."""
    taken = Enrolment.select().where(Enrolment.klass == klass.id, Enrolment.status == "active").count()
    held = WaitlistEntry.select().where(WaitlistEntry.klass == klass.id, WaitlistEntry.status == "offered")
    if session_id is None:
        return taken + held.where(WaitlistEntry.session.is_null()).count()
    taken += Trial.select().where(Trial.session == session_id, Trial.status.in_(SEATED_TRIALS)).count()
    return taken + held.where(WaitlistEntry.session.is_null() | (WaitlistEntry.session == session_id)).count()


def capacity_of(klass) -> int:
    """The effective cap: the class's capacity, or the room's seats when fewer."""
    room = klass.room
    return min(klass.capacity, room.capacity) if room is not None else klass.capacity


def future_sessions(class_id: int, after: dt.datetime):
    """The class's live sessions that end after ``after`` (what a new student would attend)."""
    return list(
        Session.select().where(
            Session.klass == class_id, Session.status != "cancelled", Session.ends_at > after
        )
    )


def student_clashes(customer_id: int, sessions: list, exclude_class: int | None = None) -> list[dict]:
    """The clashes ``sessions`` would give one student with what they already attend."""
    if not sessions:
        return []
    starts = min(s.starts_at for s in sessions)
    ends = max(s.ends_at for s in sessions)
    own = {s.id for s in sessions}
    busy = [b for b in busy_sessions(starts, ends, student_ids=[customer_id]) if b["session_id"] not in own]
    found = []
    for s in sessions:
        found += clashes_of((s.starts_at, s.ends_at), busy)
    unique = {(c["session_id"], c["id"]): c for c in found}
    return list(unique.values())
