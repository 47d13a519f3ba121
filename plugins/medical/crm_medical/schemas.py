"""Marshmallow schemas of the medical API (they also document it in OpenAPI)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crm_core.plugin_api import UTCDateTime

from .models import APPOINTMENT_STATUSES, BREAK_GLASS_REASONS, REVIEW_DECISIONS, VISIT_TYPES


class MedicalAttachmentSchema(Schema):
    """The metadata of one attached file (the file itself lives in the clinic's document store);
    stored encrypted with the record's clinical texts (``custom.attachments``)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    content_type = fields.String(load_default="application/octet-stream", validate=validate.Length(max=100))
    size = fields.Integer(load_default=0, validate=validate.Range(min=0))
    sha256 = fields.String(load_default="", validate=validate.Regexp(r"^([0-9a-f]{64})?$"))


class MedicalRecordSchema(Schema):
    """One visit: the treating department and doctor, and the clinical texts in ``custom``
    (``complaint``, ``diagnosis``, ``prescriptions``, ``treatments``, encrypted at rest)."""

    id = fields.Integer(dump_only=True)
    customer_id = fields.Integer(required=True, metadata={"description": "the patient (a customer id)"})
    department_id = fields.Integer(
        allow_none=True, metadata={"description": "treating department (default: yours)"}
    )
    owner_id = fields.Integer(allow_none=True)
    doctor_id = fields.Integer(allow_none=True, metadata={"description": "treating doctor (default: you)"})
    visit_no = fields.String(load_default="", validate=validate.Length(max=64))
    visit_type = fields.String(load_default="outpatient", validate=validate.OneOf(VISIT_TYPES))
    visit_at = UTCDateTime(allow_none=True)
    discharged_at = UTCDateTime(allow_none=True)
    attachments = fields.List(
        fields.Nested(MedicalAttachmentSchema),
        load_only=True,
        metadata={
            "description": "the attached files' metadata; stored (and read back) encrypted "
            "in custom.attachments as their JSON text"
        },
    )
    revision = fields.Integer(dump_only=True)
    custom = fields.Dict(load_default=dict)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class MedicalRecordUpdateSchema(MedicalRecordSchema):
    """A change of a record: the patient stays (a record is never moved to another person)."""

    customer_id = fields.Integer(dump_only=True)


class MedicalAppointmentSchema(Schema):
    """A doctor's slot ``[start_at, end_at)`` booked for a patient in a department."""

    id = fields.Integer(dump_only=True)
    customer_id = fields.Integer(required=True)
    doctor_id = fields.Integer(required=True)
    department_id = fields.Integer(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    start_at = UTCDateTime(required=True)
    end_at = UTCDateTime(required=True)
    status = fields.String(load_default="booked", validate=validate.OneOf(APPOINTMENT_STATUSES))
    note = fields.String(load_default="", validate=validate.Length(max=500))
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)

    @validates_schema
    def _ordered(self, data, partial=False, **kwargs):
        start, end = data.get("start_at"), data.get("end_at")
        if start is not None and end is not None and end <= start:
            raise ValidationError(str(_l("The slot must end after it starts.")), "end_at")


class MedicalAppointmentUpdateSchema(MedicalAppointmentSchema):
    """A change of an appointment (the patient stays)."""

    customer_id = fields.Integer(dump_only=True)


class MedicalBreakGlassOpenSchema(Schema):
    """Ask for emergency access to a patient's records outside your department."""

    customer_id = fields.Integer(required=True, metadata={"description": "the patient"})
    department_id = fields.Integer(
        allow_none=True, metadata={"description": "one department's records only (default: every department)"}
    )
    reason_code = fields.String(
        required=True,
        validate=validate.OneOf(BREAK_GLASS_REASONS),
        metadata={"description": "HL7 v3 ActReason: ETREAT, BTG... (or a local code)"},
    )
    reason = fields.String(
        required=True,
        validate=validate.Length(min=10, max=2000),
        metadata={"description": "why, in words (reviewed afterwards)"},
    )
    password = fields.String(
        load_only=True,
        load_default=None,
        validate=validate.Length(max=1000),
        metadata={
            "description": "your password again (step-up); may be left out within "
            "MEDICAL_BREAK_GLASS_REAUTH_MINUTES of the last time you typed it"
        },
    )


class MedicalBreakGlassSchema(Schema):
    """A break-glass grant as the review queue shows it."""

    id = fields.Integer()
    owner_id = fields.Integer(metadata={"description": "the clinician"})
    department_id = fields.Integer(metadata={"description": "whose records it opened"})
    customer_id = fields.Integer()
    reason_code = fields.String()
    reason = fields.String()
    started_at = UTCDateTime()
    expires_at = UTCDateTime()
    active = fields.Boolean()
    reviewed_at = UTCDateTime(allow_none=True)
    reviewed_by_id = fields.Integer(allow_none=True)
    decision = fields.String()
    review_note = fields.String()


class MedicalBreakGlassReviewSchema(Schema):
    """The review of one break-glass: justified or not, and why."""

    decision = fields.String(required=True, validate=validate.OneOf(REVIEW_DECISIONS))
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class MedicalReadArgsSchema(Schema):
    """Why the clinical data is read (HL7 v3 PurposeOfUse; TREAT when not said)."""

    purpose = fields.String(load_default="TREAT")
