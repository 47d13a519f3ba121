"""Tables of the medical plugin (all prefixed ``medical_``).

A medical record's ``department_id`` is its treating department: the isolation rule
(:mod:`crm_medical.isolation`) keys on it. Its clinical texts and its attachments' metadata are
encrypted custom fields (:mod:`crm_medical.templates`), so they live in ``custom`` as envelope
tokens bound to the patient. A break-glass grant is one clinician's time-boxed access to one patient's records of
one department.
"""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import BaseModel, Customer, RecordModel, database, utcnow

RECORDS = "medical.records"
APPOINTMENTS = "medical.appointments"
BREAK_GLASS = "medical.break_glass"

VISIT_TYPES = ("outpatient", "inpatient")
#: FHIR R4 Appointment.status
APPOINTMENT_STATUSES = (
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
)
#: statuses whose slot is free again (an appointment in them clashes with nothing)
FREE_STATUSES = ("cancelled", "entered-in-error")
#: HL7 v3 ActReason purpose-of-use codes a break-glass may give (plus a local one)
BREAK_GLASS_REASONS = ("ETREAT", "BTG", "COVERING", "PATIENT_UNCONSCIOUS", "THREAT_TO_LIFE")
REVIEW_DECISIONS = ("justified", "unjustified")


class MedicalRecord(RecordModel):
    """One visit (门诊 or 住院) of a patient: who treated them where, and the clinical texts
    (complaint, diagnosis, prescriptions, treatments) as encrypted custom fields."""

    crm_entity = RECORDS  # custom fields (the clinical ones, encrypted) are defined on it
    crm_references = {"doctor_id": "users"}  # the write path checks the doctor like any reference

    customer = pw.ForeignKeyField(Customer, backref="medical_records", on_delete="RESTRICT")
    visit_no = pw.CharField(max_length=64, default="", index=True)  # 门诊号 / 住院号
    visit_type = pw.CharField(max_length=20, default="outpatient")
    visit_at = pw.DateTimeField(default=utcnow, index=True)
    discharged_at = pw.DateTimeField(null=True)  # inpatient stays: the end of the stay
    doctor_id = pw.IntegerField(null=True, index=True)  # the treating doctor (a user)
    revision = pw.IntegerField(default=1)  # bumped by every change of the clinical texts

    class Meta:
        table_name = "medical_record"


class Appointment(RecordModel):
    """A booked slot of a doctor in a department (FHIR Appointment, one practitioner)."""

    crm_references = {"doctor_id": "users"}

    customer = pw.ForeignKeyField(Customer, backref="medical_appointments", on_delete="RESTRICT")
    doctor_id = pw.IntegerField(index=True)
    start_at = pw.DateTimeField(index=True)
    end_at = pw.DateTimeField()
    status = pw.CharField(max_length=20, default="booked")
    note = pw.CharField(max_length=500, default="")

    class Meta:
        table_name = "medical_appointment"


class BreakGlass(BaseModel):
    """A clinician's emergency access to a patient's records of one department outside their own.

    ``owner_id`` is the clinician and ``department_id`` the department whose records it opened,
    so the core's row scopes give each department head the queue of their department."""

    owner_id = pw.IntegerField(index=True)
    department_id = pw.IntegerField(index=True)
    customer = pw.ForeignKeyField(Customer, backref="medical_break_glass", on_delete="RESTRICT")
    reason_code = pw.CharField(max_length=32)
    reason = pw.TextField()
    started_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField(index=True)
    stopped_at = pw.DateTimeField(null=True)  # when its "Emergency Override Stopped" was audited
    reviewed_at = pw.DateTimeField(null=True, index=True)
    reviewed_by_id = pw.IntegerField(null=True)
    decision = pw.CharField(max_length=20, default="")
    review_note = pw.TextField(default="")

    class Meta:
        table_name = "medical_break_glass"


class Reauth(pw.Model):
    """When a clinician last typed their password again to break the glass: within
    ``MEDICAL_BREAK_GLASS_REAUTH_MINUTES`` of it the next break-glass does not ask again."""

    user_id = pw.IntegerField(primary_key=True)
    confirmed_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "medical_reauth"


MODELS = [MedicalRecord, Appointment, BreakGlass, Reauth]
