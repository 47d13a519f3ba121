"""The shapes of the education API's computed answers (the pool, the metrics, a student's hours),
declared so the OpenAPI document describes their ``200`` and clients can rely on it.

They only document: the views build these dicts themselves (:mod:`crm_education.metrics`,
:mod:`crm_education.api_leads`, :mod:`crm_education.api_students`).
"""

from __future__ import annotations

from marshmallow import Schema, fields

from .schemas import EducationPackageSchema

#: a rate: a decimal string (``"0.5000"``), null when its whole is zero
RATE = "part / whole as a decimal string; null when whole is 0"
#: the ``by`` split's key
GROUP = "\"all\", a consultant's user id or a campus's department id (null: none)"


def _rate():
    return fields.String(allow_none=True, metadata={"description": RATE})


def _group():
    return fields.Raw(allow_none=True, metadata={"description": GROUP})


class EducationPoolLeadSchema(Schema):
    """A lead of the shared pool (公海) with its last follow-up's time."""

    customer_id = fields.Integer()
    name = fields.String()
    department_id = fields.Integer(allow_none=True)
    last_contact_at = fields.String(allow_none=True, metadata={"description": "UTC, ISO 8601 with Z"})


class EducationClaimSchema(Schema):
    """A lead claimed from the pool and its new consultant."""

    customer_id = fields.Integer()
    owner_id = fields.Integer()


class _PeriodSchema(Schema):
    from_ = fields.Date(data_key="from")
    until = fields.Date()
    by = fields.String(allow_none=True, metadata={"description": "consultant, campus or null"})
    definitions = fields.Dict(keys=fields.String(), values=fields.String())


class EducationFunnelRowSchema(Schema):
    """One group's funnel: counts and rates."""

    group = _group()
    leads = fields.Integer()
    trial_booked = fields.Integer()
    trial_attended = fields.Integer()
    enrolled = fields.Integer()
    enrolled_after_trial = fields.Integer()
    booking_rate = _rate()
    show_rate = _rate()
    trial_conversion = _rate()
    overall_conversion = _rate()


class EducationFunnelSchema(_PeriodSchema):
    """The funnel of the leads created in [from, until]."""

    groups = fields.List(fields.Nested(EducationFunnelRowSchema))


class EducationSchoolMonthSchema(Schema):
    """One month (and group) of the school metrics."""

    month = fields.String(metadata={"description": "YYYY-MM"})
    group = _group()
    revenue = fields.String()
    attendance_rate = _rate()
    marks = fields.Integer()
    renewed = fields.Integer()
    ended = fields.Integer()
    renewal_rate = _rate()


class EducationSchoolSchema(_PeriodSchema):
    """Revenue, attendance and renewal per month of [from, until]."""

    months = fields.List(fields.Nested(EducationSchoolMonthSchema))


class EducationStudentHoursSchema(Schema):
    """A student's packages the caller may read, with the total balance."""

    customer_id = fields.Integer()
    balance = fields.String(metadata={"description": "hours left over these packages"})
    packages = fields.List(fields.Nested(EducationPackageSchema))
