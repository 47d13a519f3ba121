"""The waiting list of a full class (排队): a freed seat is offered to the first in line.

An entry waits for a seat in a class (an enrolment) or, with ``session_id``, for a trial seat in
one of its sessions. It can be joined only while the class (session) is full: a free seat is to
be taken directly. When a seat frees (an enrolment withdrawn, a trial revoked, an offer declined
or expired), :func:`offer_free` offers it to the oldest waiting entries, as many as there are free
seats, and the offer holds the seat: ``scheduling.seats_taken`` counts offered entries, so
nobody else takes it while the family decides. ``accept`` turns the offer into the enrolment (or
the trial) through the same write path as a direct booking; ``decline`` and the job
``education:expire_offers`` (after ``EDUCATION_WAITLIST_OFFER_HOURS``) pass the seat on.

Everything runs under the class's lock (``scheduling.lock(("class", id))``), the same lock the
enrolment and trial checks take, so capacity is never exceeded however the requests interleave.
Each offer is audited and emits ``waitlist.offered`` (automations can message the guardian).
"""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _

from crm_core.plugin_api import (
    APIError,
    create_record,
    current_actor,
    emit,
    record_dict,
    record_written,
    utcnow,
    write_transaction,
)

from . import enrolments, scheduling, settings, trials
from .models import Enrolment, Klass, Session, Trial, WaitlistEntry

RESOURCE = "education.waitlist"
OPEN = ("waiting", "offered")


def check_join(record: WaitlistEntry, data: dict, before: dict | None) -> None:
    """Before an entry is inserted: the class (or session) exists and is full, and the student is
    not in it nor already in its line; the entry is placed at the class's campus."""
    klass = Klass.get_or_none(Klass.id == record.class_id)
    if klass is None:
        raise APIError(422, _("No such class."), errors={"class_id": [_("Unknown class.")]})
    session_id = record.session_id
    if session_id is not None:
        session = Session.get_or_none(Session.id == session_id)
        if session is None or session.class_id != klass.id:
            raise APIError(
                422, _("No such session in this class."), errors={"session_id": [_("Unknown session.")]}
            )
    scheduling.lock(("class", klass.id), ("student", record.customer_id))
    line = WaitlistEntry.select().where(
        WaitlistEntry.klass == klass.id,
        WaitlistEntry.customer_id == record.customer_id,
        WaitlistEntry.status.in_(OPEN),
    )
    if line.where(_same_seat(session_id)).exists():
        raise APIError(
            409, _("The student is already in the waiting list."), errors={"customer_id": [_("Waiting.")]}
        )
    seated = (
        Trial.select().where(
            Trial.session == session_id,
            Trial.customer_id == record.customer_id,
            Trial.status.in_(scheduling.SEATED_TRIALS),
        )
        if session_id is not None
        else Enrolment.select().where(
            Enrolment.klass == klass.id,
            Enrolment.customer_id == record.customer_id,
            Enrolment.status == "active",
        )
    )
    if seated.exists():
        raise APIError(
            409, _("The student already has a seat."), errors={"customer_id": [_("Already seated.")]}
        )
    if scheduling.seats_taken(klass, session_id) < scheduling.capacity_of(klass):
        raise APIError(
            409,
            _("There is a free seat: book it directly."),
            errors={"class_id": [_("Not full.")]},
        )
    if record.department_id is None:
        record.department_id = klass.department_id


def _same_seat(session_id):
    return WaitlistEntry.session.is_null() if session_id is None else WaitlistEntry.session == session_id


def join(data: dict, actor) -> WaitlistEntry:
    """Put a student in the line of a full class or session (``education.waitlist:create``)."""
    return create_record(RESOURCE, WaitlistEntry, data, actor, before_save=check_join)


def position(entry: WaitlistEntry) -> int | None:
    """1 for the first waiting entry of its line; None once it is no longer waiting."""
    if entry.status != "waiting":
        return None
    ahead = WaitlistEntry.select().where(
        WaitlistEntry.klass == entry.class_id,
        _same_seat(entry.session_id),
        WaitlistEntry.status == "waiting",
        WaitlistEntry.id < entry.id,
    )
    return ahead.count() + 1


def with_positions(rows) -> None:
    """Set each entry's ``position`` in its line (for the API's answers)."""
    for row in rows:
        row.position = position(row)


def _offer(entry: WaitlistEntry, actor, now: dt.datetime) -> None:
    before = record_dict(entry)
    entry.status, entry.offered_at = "offered", now
    entry.offer_expires_at = now + dt.timedelta(hours=settings.get("WAITLIST_OFFER_HOURS"))
    WaitlistEntry.update(
        status=entry.status, offered_at=now, offer_expires_at=entry.offer_expires_at, updated_at=now
    ).where(WaitlistEntry.id == entry.id).execute()
    record_written("offer", RESOURCE, entry, actor, before, record_dict(entry), extra={"event": False})
    emit(
        "waitlist.offered",
        {
            "waitlist_id": entry.id,
            "customer_id": entry.customer_id,
            "class_id": entry.class_id,
            "session_id": entry.session_id,
            "offer_expires_at": entry.offer_expires_at,
            "owner_id": entry.owner_id,
            "department_id": entry.department_id,
        },
        actor=actor,
        resource=RESOURCE,
    )


def _offer_line(klass: Klass, session_id, actor, now) -> list[int]:
    free = scheduling.capacity_of(klass) - scheduling.seats_taken(klass, session_id)
    if free <= 0:
        return []
    first = list(
        WaitlistEntry.select()
        .where(WaitlistEntry.klass == klass.id, _same_seat(session_id), WaitlistEntry.status == "waiting")
        .order_by(WaitlistEntry.id)
        .limit(free)
    )
    for entry in first:
        _offer(entry, actor, now)
    return [e.id for e in first]


def offer_free(klass: Klass, actor, session_id: int | None = None) -> list[int]:
    """Offer the class's free seats to the first in line (inside the caller's write transaction):
    the class's own line, then, for a seat freed in the whole class, the trial lines of its
    coming sessions (or only ``session_id``'s line). Returns the entries offered."""
    scheduling.lock(("class", klass.id))
    now = utcnow()
    if session_id is not None:
        return _offer_line(klass, session_id, actor, now)
    offered = _offer_line(klass, None, actor, now)
    waiting_sessions = (
        WaitlistEntry.select(WaitlistEntry.session)
        .join(Session, on=(Session.id == WaitlistEntry.session))
        .where(
            WaitlistEntry.klass == klass.id,
            WaitlistEntry.status == "waiting",
            Session.status == "scheduled",
            Session.starts_at > now,
        )
        .distinct()
    )
    for row in list(waiting_sessions):
        offered += _offer_line(klass, row.session_id, actor, now)
    return offered


def seats_changed(record: Klass, data: dict, before: dict | None) -> None:
    """After a class is changed (a bigger capacity, a bigger room): offer the new seats."""
    if (
        before is not None
        and WaitlistEntry.select()
        .where(WaitlistEntry.klass == record.id, WaitlistEntry.status == "waiting")
        .exists()
    ):
        offer_free(Klass.get_by_id(record.id), current_actor())


def accept(entry: WaitlistEntry, actor) -> int:
    """The offered seat becomes the enrolment (or the trial booking), checked as a direct one;
    returns its id. Call with the entry locked in a write transaction."""
    if entry.status != "offered":
        raise APIError(409, _("Only an open offer can be accepted."), errors={"status": [_("Not offered.")]})
    # the hold is released first so the booking's own capacity check counts the seat as free
    WaitlistEntry.update(status="accepted").where(WaitlistEntry.id == entry.id).execute()
    if entry.session_id is None:
        made = enrolments.enrol(entry.customer_id, entry.class_id, actor, owner_id=entry.owner_id)
    else:
        data = {
            "customer_id": entry.customer_id,
            "kind": "class_session",
            "session_id": entry.session_id,
            "owner_id": entry.owner_id,
            "_actor": actor,
        }
        made = create_record(
            trials.RESOURCE,
            Trial,
            data,
            actor,
            before_save=trials.prepare_trial,
            after_save=trials.after_create,
        )
    entry.status, entry.resolved_at, entry.result_id = "accepted", utcnow(), made.id
    return made.id


def release(entry: WaitlistEntry, status: str, actor) -> None:
    """Decline, cancel or expire an entry; an offered seat passes to the next in line."""
    if entry.status not in OPEN:
        raise APIError(409, _("This entry is closed."), errors={"status": [_("Closed.")]})
    was_offered = entry.status == "offered"
    WaitlistEntry.update(status=status, resolved_at=utcnow()).where(WaitlistEntry.id == entry.id).execute()
    entry.status, entry.resolved_at = status, utcnow()
    if was_offered:
        offer_free(entry.klass, actor, entry.session_id)


def expire_offers(ctx) -> dict:
    """Offers not taken up within EDUCATION_WAITLIST_OFFER_HOURS expire; the seat passes on."""
    due = list(
        WaitlistEntry.select().where(
            WaitlistEntry.status == "offered", WaitlistEntry.offer_expires_at <= ctx.now
        )
    )
    expired = []
    for entry in due:
        with write_transaction():
            scheduling.lock(("class", entry.class_id))
            current = WaitlistEntry.get_by_id(entry.id)  # read again under the class's lock
            if current.status != "offered":
                continue
            before = record_dict(current)
            release(current, "expired", ctx.actor)
            record_written("expire", RESOURCE, current, ctx.actor, before, record_dict(current))
            expired.append(current.id)
    return {"expired": expired}
