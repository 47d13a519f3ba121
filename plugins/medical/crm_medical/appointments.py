"""Appointments: a doctor holds one patient at a time.

Two appointments of the same doctor clash when both occupy their slot (a status outside
``FREE_STATUSES``) and their half-open slots overlap: ``start1 < end2 and start2 < end1`` (one
ending at 10:00 and the next starting at 10:00 do not clash). A clash is refused with 409.

Concurrency: the check and the write run in the write path's transaction. On PostgreSQL the
transaction first takes an advisory lock on the doctor (``pg_advisory_xact_lock``, released at
commit), so two bookings of the same doctor queue and the second sees the first; on SQLite the
write transaction holds the database's write lock (``BEGIN IMMEDIATE``) already.
"""

from __future__ import annotations

from flask_babel import gettext as _

from crm_core.plugin_api import APIError, database, is_postgres

from .models import FREE_STATUSES, Appointment

#: the advisory lock namespace of doctors' calendars (a fixed, arbitrary 32-bit key)
LOCK_SPACE = 0x4D454431  # "MED1"


def overlaps(start1, end1, start2, end2) -> bool:
    """True when the half-open slots ``[start1, end1)`` and ``[start2, end2)`` overlap."""
    return start1 < end2 and start2 < end1


def lock_doctor(doctor_id: int) -> None:
    """Serialise bookings of ``doctor_id`` until the transaction ends (PostgreSQL)."""
    if is_postgres():
        database.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, int(doctor_id)))


def check_clash(record, data, before) -> None:
    """The appointments collection's ``before_save``: 409 when ``record`` would clash."""
    if record.end_at <= record.start_at:
        raise APIError(
            422, _("The slot must end after it starts."), errors={"end_at": [_("Must be after start_at.")]}
        )
    if record.status in FREE_STATUSES:
        return
    lock_doctor(record.doctor_id)
    query = Appointment.select(Appointment.id).where(
        Appointment.doctor_id == record.doctor_id,
        Appointment.status.not_in(FREE_STATUSES),
        Appointment.start_at < record.end_at,
        Appointment.end_at > record.start_at,
    )
    if record.id is not None:
        query = query.where(Appointment.id != record.id)
    if query.exists():
        # the other appointment is not named: it may be a patient the caller cannot see
        message = _("The doctor already has an appointment overlapping this slot.")
        raise APIError(409, message, errors={"start_at": [message]})
