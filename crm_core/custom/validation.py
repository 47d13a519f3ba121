"""Validation of custom-field values: marshmallow schemas compiled from the field definitions.

A schema is built once per entity and definitions version (see :mod:`.fielddefs`) and reused by
every request. Values come back in their stored, JSON-ready form: decimals as exact strings,
dates as ``YYYY-MM-DD``, datetimes as fixed-width UTC ``YYYY-MM-DDTHH:MM:SSZ`` (so SQL text
order is time order), e-mail addresses lower-cased and phone numbers in E.164.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import phonenumbers
from flask import current_app, has_app_context
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from .. import permissions
from ..auth import current_actor
from ..errors import APIError
from .expressions import custom_expression
from .extensible import entity_model
from .fielddefs import FieldDef, cache_entry, custom_fields, datetime_storage

STRING_MAX = 255
TEXT_MAX = 65535
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # BIGINT: what both databases compare and index


class StrictInteger(fields.Field):
    """A 64-bit integer that refuses booleans and fractions instead of truncating them
    (marshmallow's non-strict ``Integer`` turns ``7.5`` into ``7``)."""

    default_error_messages = {
        "invalid": "Not a valid integer.",
        "range": "Must be between -2^63 and 2^63-1.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        number = self._number(value)
        if not INT_MIN <= number <= INT_MAX:
            raise self.make_error("range")
        return number

    def _number(self, value) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,30}\s*", value):
            return int(value)
        raise self.make_error("invalid")


class Phone(fields.String):
    """A phone number normalised to E.164 (numbers without ``+`` use ``DEFAULT_PHONE_REGION``)."""

    default_error_messages = {"invalid_phone": "Not a valid phone number."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        region = current_app.config.get("DEFAULT_PHONE_REGION", "CN") if has_app_context() else "CN"
        try:
            number = phonenumbers.parse(text, None if text.strip().startswith("+") else region)
        except phonenumbers.NumberParseException:
            raise self.make_error("invalid_phone") from None
        if not phonenumbers.is_valid_number(number):
            raise self.make_error("invalid_phone")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class LowerEmail(fields.Email):
    """An e-mail address, stored lower-cased so that equality and uniqueness ignore case."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class MultiChoice(fields.List):
    """A list of choice values, de-duplicated and kept in the definition's choice order."""

    def __init__(self, choices: list[str], **kwargs):
        self.choice_order = {value: i for i, value in enumerate(choices)}
        super().__init__(fields.String(validate=validate.OneOf(choices)), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        items = super()._deserialize(value, attr, data, **kwargs)
        return sorted(set(items), key=lambda v: self.choice_order.get(v, 0))


class FullMatch(validate.Validator):
    """The whole value must match ``pattern`` (``validate.Regexp`` only anchors the start)."""

    def __init__(self, pattern: str):
        self.pattern = re.compile(pattern)
        self.error = f"Does not match the pattern {pattern}."

    def __call__(self, value):
        if not self.pattern.fullmatch(value):
            raise ValidationError(self.error)
        return value


def no_nul(value):
    """Refuse NUL characters: PostgreSQL cannot store them in text or jsonb."""
    if isinstance(value, str) and "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    return value


def marshmallow_field(fd: FieldDef, *, for_default: bool = False) -> fields.Field:
    """The marshmallow field validating values of ``fd`` (required-ness aside when ``for_default``)."""
    validators: list = [no_nul] if fd.type in ("string", "text", "email", "url", "phone") else []
    kwargs = {
        "required": fd.required and not for_default,
        "allow_none": not fd.required,
        "data_key": fd.name,
    }
    if fd.type in ("int", "decimal") and (fd.min is not None or fd.max is not None):
        low = int(fd.min) if fd.type == "int" and fd.min is not None else fd.min
        high = int(fd.max) if fd.type == "int" and fd.max is not None else fd.max
        validators.append(validate.Range(min=low, max=high))
    if fd.type in ("string", "text", "email", "url", "phone"):
        default_max = TEXT_MAX if fd.type == "text" else STRING_MAX
        validators.append(validate.Length(min=fd.min_length, max=fd.max_length or default_max))
        if fd.regex:
            validators.append(FullMatch(fd.regex))
    kwargs["validate"] = validators
    if fd.type in ("string", "text"):
        return fields.String(**kwargs)
    if fd.type in ("int", "reference"):
        return StrictInteger(**kwargs)
    if fd.type == "decimal":
        return fields.Decimal(allow_nan=False, **kwargs)
    if fd.type == "bool":
        return fields.Boolean(**kwargs)
    if fd.type == "date":
        return fields.Date(**kwargs)
    if fd.type == "datetime":
        return fields.DateTime(**kwargs)
    if fd.type == "choice":
        kwargs["validate"] = [no_nul, validate.OneOf(fd.choice_values)]
        return fields.String(**kwargs)
    if fd.type == "multi-choice":
        return MultiChoice(fd.choice_values, **kwargs)
    if fd.type == "email":
        return LowerEmail(**kwargs)
    if fd.type == "phone":
        return Phone(**kwargs)
    if fd.type == "url":
        return fields.Url(schemes={"http", "https"}, **kwargs)
    raise ValueError(f"unknown field type {fd.type!r}")


def to_storage(fd: FieldDef, value):
    """A deserialized value in the JSON-ready form kept in ``custom``."""
    if value is None:
        return None
    if fd.type == "decimal":
        return str(value)
    if fd.type == "datetime":
        return datetime_storage(value)
    if fd.type == "date":
        return value.isoformat() if isinstance(value, dt.date) else value
    return value


def schema_for(entity: str) -> type[Schema]:
    """The compiled marshmallow schema of ``entity``'s custom fields (cached per definitions version)."""
    entry = cache_entry()
    schema = entry["schemas"].get(entity)
    if schema is None:
        defs = entry["fields"].get(entity, ())
        schema = Schema.from_dict({fd.name: marshmallow_field(fd) for fd in defs}, name=f"Custom_{entity}")
        schema.Meta.unknown = RAISE
        entry["schemas"][entity] = schema
    return schema


def _loader_for(entity: str) -> Schema:
    """An instance of :func:`schema_for`'s schema, built once per definitions version (building
    one deep-copies every field: a few percent of a create)."""
    loaders = cache_entry().setdefault("loaders", {})
    loader = loaders.get(entity)
    if loader is None:
        loader = loaders[entity] = schema_for(entity)()
    return loader


def check_value(fd: FieldDef, value):
    """Validate one value against ``fd`` alone; returns the stored form or raises ``ValidationError``.

    Used for defaults and to test existing data against a changed definition.
    """
    loaded = Schema.from_dict({fd.name: marshmallow_field(fd, for_default=True)})().load({fd.name: value})
    return to_storage(fd, loaded.get(fd.name))


def validate_custom(entity: str, values, partial: bool = False, record_id=None) -> dict:
    """Validate ``values`` (a record's ``custom`` dict) against ``entity``'s field definitions.

    Returns the cleaned values in stored form; on create (``partial=False``) missing fields get
    their defaults and required ones must be present. Raises ``APIError(422)`` with messages per
    field (``custom.<name>``), naming unknown keys, and ``APIError(409)`` when a unique field's
    value is used by another record (``record_id`` is the record being updated, excluded).
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise APIError(422, "Invalid custom fields.", errors={"custom": ["Must be an object."]})
    defs = {fd.name: fd for fd in custom_fields(entity)}
    unknown = sorted(str(k) for k in values if k not in defs)
    if unknown:
        raise APIError(
            422,
            f"Unknown custom field(s) of {entity}: {', '.join(unknown)}.",
            errors={f"custom.{k}": [f"Unknown custom field of {entity}."] for k in unknown},
        )
    data = dict(values)
    if not partial:
        for name, fd in defs.items():
            if name not in data and fd.has_default:
                data[name] = fd.default
    try:
        loaded = _loader_for(entity).load(data, partial=partial)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        errors = {f"custom.{k}": v if isinstance(v, list) else [v] for k, v in messages.items()}
        raise APIError(
            422, f"Invalid custom field value(s): {', '.join(sorted(messages))}.", errors=errors
        ) from None
    cleaned = {name: to_storage(defs[name], value) for name, value in loaded.items()}
    _check_references(entity, defs, cleaned)
    _check_unique(entity, defs, cleaned, record_id)
    return cleaned


def _check_references(entity: str, defs: dict, cleaned: dict) -> None:
    errors = {}
    for name, value in cleaned.items():
        fd = defs[name]
        if fd.type != "reference" or value is None:
            continue
        target = entity_model(fd.reference) if fd.reference else None
        if target is None or not target.select(target.id).where(target.id == value).exists():
            errors[f"custom.{name}"] = [f"No {fd.reference} record with id {value}."]
    if errors:
        raise APIError(422, "Invalid custom field reference(s).", errors=errors)


def _check_unique(entity: str, defs: dict, cleaned: dict, record_id) -> None:
    unique = [n for n, v in cleaned.items() if v is not None and defs[n].unique]
    if not unique:
        return
    model = entity_model(entity)
    if model is None:
        return
    for name in unique:
        query = model.select(model.id).where(custom_expression(model, name) == cleaned[name])
        if record_id is not None:
            query = query.where(model.id != record_id)
        existing = query.first()
        if existing is not None:
            message = f"Custom field {name!r} must be unique: {cleaned[name]!r} is already used."
            if not _readable(entity, model, existing.id):  # name only a record the caller may read
                raise APIError(409, message, errors={f"custom.{name}": ["Already used by another record."]})
            raise APIError(
                409,
                message,
                errors={f"custom.{name}": [f"Already used by record {existing.id}."]},
                existing_id=existing.id,
            )


def _readable(entity: str, model, record_id) -> bool:
    """True when the caller of this request may read record ``record_id`` (``permissions.view``)."""
    actor = current_actor(required=False)
    return actor is not None and permissions.view(actor, entity).contains_id(model, record_id)
