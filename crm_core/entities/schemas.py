"""marshmallow schemas of the core objects: one schema per object loads input and dumps output.

Normalisation happens on load so that every path (API, import) stores the same form: phones in
E.164 (``+8613800138000``; numbers without a country code use ``DEFAULT_PHONE_REGION``), e-mail
addresses validated and lower-cased. Times are dumped as UTC ISO 8601 with a ``Z``.
"""

from __future__ import annotations

import datetime as dt

import email_validator
import phonenumbers
from flask import current_app, has_app_context
from marshmallow import Schema, ValidationError, fields, validate

from .models import (
    ACTIVITY_KINDS,
    DEAL_STATUSES,
    GENDERS,
    LIFECYCLE_STAGES,
    STAGE_KINDS,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
)


def phone_region() -> str:
    """The region assumed for numbers written without a country code (config DEFAULT_PHONE_REGION)."""
    if has_app_context():
        return current_app.config.get("DEFAULT_PHONE_REGION") or "CN"
    return "CN"


def normalize_phone(raw: str, region: str | None = None) -> str | None:
    """``raw`` in E.164, None when blank; ``ValueError`` when it is not a valid number."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, region or phone_region())
    except phonenumbers.NumberParseException:
        raise ValueError("Not a valid phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("Not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str | None:
    """``raw`` validated (syntax only, no DNS) and lower-cased; None when blank."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        info = email_validator.validate_email(text, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"Not a valid e-mail address: {exc}") from None
    return info.normalized.lower()


class Phone(fields.String):
    """A phone number, stored and shown in E.164."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalize_phone(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class Email(fields.String):
    """An e-mail address, stored lower-case."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalize_email(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class UTCDateTime(fields.DateTime):
    """A datetime stored as naive UTC; dumped with ``Z``, loaded from any offset (naive = UTC)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):  # already serialised (a row read back as text)
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value


class BlankText(fields.String):
    """Optional text kept as "" when empty (a NOT NULL column): ``null`` is accepted and loads as
    "", so a client (or a form) clearing the field need not know which columns take null."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def deserialize(self, value, attr=None, data=None, **kwargs):
        return super().deserialize("" if value is None else value, attr, data, **kwargs)


def _text(max_length: int, **kwargs):
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


class RecordSchema(Schema):
    """Columns every business record has."""

    id = fields.Integer(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict(keys=fields.String())


class CustomerSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = Phone(allow_none=True)
    email = Email(allow_none=True)
    gender = fields.String(allow_none=True, validate=validate.OneOf(GENDERS))
    birthday = fields.Date(allow_none=True)
    source_channel = _text(100, allow_none=True)
    lifecycle_stage = fields.String(validate=validate.OneOf(LIFECYCLE_STAGES))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=100)))


class CompanySchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    parent_id = fields.Integer(allow_none=True)
    path = fields.String(dump_only=True)
    industry = _text(100, allow_none=True)
    website = fields.Url(allow_none=True, validate=validate.Length(max=300))
    phone = Phone(allow_none=True)
    email = Email(allow_none=True)
    address = _text(500, allow_none=True)


class CompanyTreeSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    parent_id = fields.Integer(allow_none=True)
    children = fields.List(fields.Nested(lambda: CompanyTreeSchema()))


class ContactSchema(RecordSchema):
    customer_id = fields.Integer(required=True)
    company_id = fields.Integer(required=True)
    role = _text(100)
    is_primary = fields.Boolean()


class StageSchema(Schema):
    id = fields.Integer()
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    position = fields.Integer(dump_only=True)
    probability = fields.Integer(validate=validate.Range(min=0, max=100))
    kind = fields.String(validate=validate.OneOf(STAGE_KINDS))


class PipelineSchema(Schema):
    id = fields.Integer(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    is_default = fields.Boolean()
    stages = fields.List(fields.Nested(StageSchema), validate=validate.Length(min=1, max=50))


class StageSummarySchema(Schema):
    stage_id = fields.Integer()
    name = fields.String()
    position = fields.Integer()
    kind = fields.String()
    count = fields.Integer()
    amount = fields.Decimal(
        as_string=True, allow_none=True, metadata={"description": "null when hidden from you"}
    )


class DealSchema(RecordSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    customer_id = fields.Integer(allow_none=True)
    company_id = fields.Integer(allow_none=True)
    pipeline_id = fields.Integer()
    stage_id = fields.Integer()
    amount = fields.Decimal(as_string=True, places=2, validate=validate.Range(min=0, max=10**13))
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"))
    expected_close_date = fields.Date(allow_none=True)
    status = fields.String(dump_only=True, validate=validate.OneOf(DEAL_STATUSES))
    close_reason = fields.String(allow_none=True, validate=validate.Length(max=2000))
    closed_at = UTCDateTime(dump_only=True, allow_none=True)
    stage_changed_at = UTCDateTime(dump_only=True)


class StageChangeSchema(Schema):
    id = fields.Integer()
    from_stage_id = fields.Integer(allow_none=True)
    to_stage_id = fields.Integer(allow_none=True)
    changed_at = UTCDateTime()
    actor_id = fields.Integer(allow_none=True)


class ActivitySchema(RecordSchema):
    kind = fields.String(required=True, validate=validate.OneOf(ACTIVITY_KINDS))
    subject = fields.String(required=True, validate=validate.Length(min=1, max=300))
    body = fields.String(validate=validate.Length(max=20000))
    due_at = UTCDateTime(allow_none=True)
    done = fields.Boolean()
    done_at = UTCDateTime(dump_only=True, allow_none=True)
    # a core collection (ACTIVITY_TARGETS), a plugin entity or a custom object type (objects.<type>)
    related_type = fields.String(allow_none=True, validate=validate.Length(min=1, max=40))
    related_id = fields.Integer(allow_none=True)
    customer_id = fields.Integer(allow_none=True)


class TicketSchema(RecordSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    description = BlankText(validate=validate.Length(max=20000))
    customer_id = fields.Integer(allow_none=True)
    priority = fields.String(validate=validate.OneOf(TICKET_PRIORITIES))
    status = fields.String(validate=validate.OneOf(TICKET_STATUSES))
    assignee_id = fields.Integer(allow_none=True)
    sla_due_at = UTCDateTime(dump_only=True, allow_none=True)
    sla_breached = fields.Boolean(dump_only=True)
    resolved_at = UTCDateTime(dump_only=True, allow_none=True)
    closed_at = UTCDateTime(dump_only=True, allow_none=True)


class TransitionSchema(Schema):
    id = fields.Integer()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    changed_at = UTCDateTime()
    actor_id = fields.Integer(allow_none=True)


class TagSchema(Schema):
    id = fields.Integer(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    color = _text(20)


class SegmentSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = BlankText(validate=validate.Length(max=2000))
    filters = fields.Dict(keys=fields.String(), required=True)


class CountSchema(Schema):
    count = fields.Integer()


class TimelineItemSchema(Schema):
    type = fields.String()
    at = UTCDateTime()
    object = fields.String()
    object_id = fields.Integer()
    title = fields.String()
    data = fields.Dict()
