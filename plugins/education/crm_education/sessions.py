"""Sessions: one at a time through the CRUD write path (checked in ``before_save``), or a whole
term from a weekly pattern (:func:`generate`), skipping holidays and reporting clashes instead of
failing the batch (the dates that clash are listed; the rest are created)."""

from __future__ import annotations

import datetime as dt

import peewee as pw
from flask_babel import gettext as _

from crm_core.plugin_api import APIError, is_postgres, record_dict, record_written, utcnow

from . import scheduling, settings
from .models import Holiday, HourEntry, Klass, Session


def local_day(instant: dt.datetime) -> dt.date:
    """The school-time-zone date of a naive UTC instant."""
    return instant.replace(tzinfo=dt.UTC).astimezone(settings.timezone()).date()


def to_utc(day: dt.date, at: dt.time) -> dt.datetime:
    """A local wall-clock time on ``day`` as a naive UTC instant."""
    local = dt.datetime.combine(day, at, tzinfo=settings.timezone())
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def prepare_session(record: Session, data: dict, before: dict | None) -> None:
    """Before a session is saved: fill teacher, room, campus, hours and day from its class, then,
    under the locks of its teacher, room and students, 409 if it clashes (a cancelled session is
    never checked: it occupies nothing)."""
    klass = Klass.get_by_id(record.class_id)
    if before is None:
        if "teacher_id" not in data:
            record.teacher_id = klass.teacher_id
        if "room_id" not in data and "room" not in data:
            record.room = klass.room_id
        if "hours" not in data:
            record.hours = klass.course.hours_per_session
    elif before.get("class_id") != record.class_id:
        raise APIError(
            422, _("A session cannot move to another class."), errors={"class_id": [_("Read-only.")]}
        )
    record.department_id = klass.department_id
    if record.starts_at is None or record.ends_at is None or not record.starts_at < record.ends_at:
        raise APIError(
            422, _("A session must end after it starts."), errors={"ends_at": [_("Must be after starts_at.")]}
        )
    record.day = local_day(record.starts_at)
    if record.status == "cancelled":
        if before is not None and before.get("status") != "cancelled" and _consumed(record.id):
            raise APIError(
                409,
                _("Hours were consumed at this session: mark its students absent first."),
                errors={"status": [_("Roll call consumed hours.")]},
            )
        return
    students = scheduling.student_ids_of_class(klass.id)
    scheduling.lock(
        ("teacher", record.teacher_id), ("room", record.room_id), *[("student", s) for s in students]
    )
    exclude = [record.id] if record.id else []
    scheduling.check_slot(
        record.starts_at, record.ends_at, record.teacher_id, record.room_id, students, exclude
    )


def _consumed(session_id: int) -> bool:
    """True while the ledger holds hours consumed at the session (net of corrections)."""
    total = HourEntry.select(pw.fn.SUM(HourEntry.hours)).where(HourEntry.session_id == session_id).scalar()
    return bool(total)


def pattern_slots(pattern: dict) -> tuple[list[tuple[dt.datetime, dt.datetime, dt.date]], list[str]]:
    """The UTC slots of a weekly pattern (``from``, ``until``, ``weekdays`` 0 = Monday, local
    ``start`` and ``end`` times) and the holidays it skipped (ISO dates)."""
    first, last = pattern["from"], pattern["until"]
    holidays = {h.day for h in Holiday.select(Holiday.day).where(Holiday.day >= first, Holiday.day <= last)}
    slots, skipped = [], []
    day = first
    while day <= last:
        if day.weekday() in pattern["weekdays"]:
            if day in holidays:
                skipped.append(day.isoformat())
            else:
                slots.append((to_utc(day, pattern["start"]), to_utc(day, pattern["end"]), day))
        day += dt.timedelta(days=1)
    return slots, skipped


def generate(klass: Klass, pattern: dict, actor) -> dict:
    """Create the class's sessions of a weekly pattern, in the caller's write transaction.

    Holidays are skipped; a slot that clashes (teacher, room, one of the class's students, or a
    slot of the same batch) is not created and is reported with what it clashes with. One audit
    entry on the class records the batch (``generate_sessions``) with the ids created."""
    if not pattern["start"] < pattern["end"]:
        raise APIError(
            422, _("A session must end after it starts."), errors={"end": [_("Must be after start.")]}
        )
    if pattern["until"] < pattern["from"]:
        raise APIError(
            422, _("The pattern ends before it starts."), errors={"until": [_("Must not be before from.")]}
        )
    slots, holidays = pattern_slots(pattern)
    teacher_id = pattern.get("teacher_id", klass.teacher_id)
    room_id = pattern.get("room_id", klass.room_id)
    hours = pattern.get("hours") or klass.course.hours_per_session
    students = scheduling.student_ids_of_class(klass.id)
    scheduling.lock(("teacher", teacher_id), ("room", room_id), *[("student", s) for s in students])
    busy = []
    if slots:
        busy = scheduling.busy_sessions(slots[0][0], slots[-1][1], teacher_id, room_id, students)
    rows, clashes = [], []
    now = utcnow()
    for starts, ends, day in slots:
        found = scheduling.clashes_of((starts, ends), busy)
        if found:
            clashes.append({"day": day.isoformat(), "clashes": scheduling.clash_payload(found)})
            continue
        rows.append(
            {
                "klass": klass.id,
                "teacher_id": teacher_id,
                "department_id": klass.department_id,
                "room": room_id,
                "day": day,
                "starts_at": starts,
                "ends_at": ends,
                "hours": hours,
                "status": "scheduled",
                "created_at": now,
                "updated_at": now,
            }
        )
        # the batch's own slots occupy the teacher and room for the slots after them
        busy.append(
            {"resource": "class", "id": klass.id, "session_id": 0, "starts_at": starts, "ends_at": ends}
        )
    ids = []
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        # a RETURNING insert on PostgreSQL; SQLite gives the last id of each chunk, ids being consecutive
        result = Session.insert_many(chunk).returning(Session.id).execute() if is_postgres() else None
        if result is not None:
            ids += [r.id for r in result]
        else:
            last = Session.insert_many(chunk).execute()
            ids += list(range(last - len(chunk) + 1, last + 1))
    image = record_dict(klass)
    record_written(
        "generate_sessions",
        "education.classes",
        klass,
        actor,
        image,
        {**image, "generated_sessions": ids},
    )
    return {"created": len(ids), "session_ids": ids, "holidays": holidays, "clashes": clashes}
