"""The patient's copy of their data (``crm_export_customer``).

The export holds the appointments and the medical records the exporting actor may read (the
isolation rule holds here too: a privacy officer outside the treating department gets the
visits' dates and departments, not their clinical texts); the read of the records is audited
once, with purpose ``PATRQT`` (patient request).
"""

from __future__ import annotations

from crm_core.plugin_api import current_actor, scoped, view

from .models import APPOINTMENTS, RECORDS, Appointment, MedicalRecord
from .readaudit import audit_read
from .schemas import MedicalAppointmentSchema, MedicalRecordSchema


def export_patient(customer) -> dict | None:
    """The patient's appointments and records as the exporting actor may see them."""
    actor = current_actor(required=False)
    if actor is None:
        return None
    out: dict = {}
    if view(actor, RECORDS).allowed:
        rows = list(
            scoped(MedicalRecord.select(), actor, RECORDS)
            .where(MedicalRecord.customer == customer.id)
            .order_by(MedicalRecord.visit_at)
        )
        if rows:
            audit_read(actor, rows, "privacy_export", purpose="PATRQT")
        out["records"] = view(actor, RECORDS).dump(MedicalRecordSchema(many=True).dump(rows))
        # the visits the reader may not open are listed by date and department only
        hidden = MedicalRecord.select(
            MedicalRecord.id, MedicalRecord.visit_at, MedicalRecord.visit_type, MedicalRecord.department_id
        ).where(MedicalRecord.customer == customer.id, MedicalRecord.id.not_in([r.id for r in rows] or [0]))
        out["other_visits"] = [
            {
                "id": r.id,
                "visit_at": r.visit_at.isoformat(),
                "visit_type": r.visit_type,
                "department_id": r.department_id,
            }
            for r in hidden.order_by(MedicalRecord.visit_at)
        ]
    if view(actor, APPOINTMENTS).allowed:
        booked = scoped(Appointment.select(), actor, APPOINTMENTS).where(Appointment.customer == customer.id)
        out["appointments"] = view(actor, APPOINTMENTS).dump(
            MedicalAppointmentSchema(many=True).dump(list(booked))
        )
    return out or None
