"""The schemas of custom field definitions in the fields API: what clients send (create, change)
and what they get back."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from ..custom.fielddefs import FIELD_TYPES


class FieldInputSchema(Schema):
    """A field definition as clients send it (``label`` and ``help``: a string or {en, zh-CN})."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, metadata={"description": "a-z, 0-9, _; cannot change later"})
    type = fields.String(required=True, validate=validate.OneOf(FIELD_TYPES))
    label = fields.Raw(metadata={"description": 'string or {"en": ..., "zh-CN": ...}'})
    help = fields.Raw()
    required = fields.Boolean()
    unique = fields.Boolean()
    filterable = fields.Boolean(metadata={"description": "create an index for filters and sorts"})
    encrypted = fields.Boolean(
        metadata={"description": "store values encrypted (never unique, filterable, sorted or searched)"}
    )
    blind_index = fields.Boolean(
        metadata={"description": "an encrypted field found by exact value (?<name>=...)"}
    )
    default = fields.Raw(allow_none=True)
    min = fields.Raw(allow_none=True)
    max = fields.Raw(allow_none=True)
    min_length = fields.Integer(allow_none=True, validate=validate.Range(min=0))
    max_length = fields.Integer(allow_none=True, validate=validate.Range(min=0))
    regex = fields.String(allow_none=True)
    choices = fields.List(fields.Raw(), metadata={"description": 'values or {"value", "label"}'})
    reference = fields.String(allow_none=True, metadata={"description": "target entity of a reference"})
    position = fields.Integer()


class FieldUpdateSchema(FieldInputSchema):
    """The keys of a definition that may change (all optional)."""

    name = fields.String()
    type = fields.String(validate=validate.OneOf(FIELD_TYPES))


class FieldSchema(Schema):
    """A custom field definition."""

    id = fields.Integer()
    entity = fields.String()
    name = fields.String()
    type = fields.String()
    label = fields.Dict()
    help = fields.Dict()
    required = fields.Boolean()
    unique = fields.Boolean()
    filterable = fields.Boolean()
    encrypted = fields.Boolean()
    blind_index = fields.Boolean()
    default = fields.Raw(allow_none=True)
    min = fields.Raw(allow_none=True)
    max = fields.Raw(allow_none=True)
    min_length = fields.Integer(allow_none=True)
    max_length = fields.Integer(allow_none=True)
    regex = fields.String(allow_none=True)
    choices = fields.List(fields.Dict())
    reference = fields.String(allow_none=True)
    position = fields.Integer()
    source = fields.String()
    deleted = fields.Boolean()
