"""Changing field definitions safely: create, update, delete (data kept) and purge.

Every change runs in one transaction that also re-creates the field's indexes and bumps the
definitions version. Nothing is silently lost or broken:

- a required field added to an entity that already has records needs a default, which is
  written into those records;
- a change of type, bounds, pattern, choices, required-ness or uniqueness first checks the
  values already stored and is refused (409) with the ids of the records that would break;
  when the type changes and every value converts, the values are rewritten in the new form;
- deleting a field keeps its values in the records until ``purge``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from decimal import Decimal, InvalidOperation

import peewee as pw
from marshmallow import ValidationError

from ..db import database, is_postgres, utcnow
from ..errors import APIError
from ..inputs import check_length
from . import sealed
from .expressions import raw_expression, sync_indexes
from .extensible import core_field_names, entity_model, require_entity
from .fielddefs import (
    FIELD_TYPES,
    NAME_RE,
    RESERVED_NAMES,
    FieldDef,
    bump_version,
    fielddef_from_row,
)
from .journal import written
from .models import FieldDefinition
from .validation import check_value

#: Types whose values can be indexed and compared for uniqueness.
UNIQUE_TYPES = (
    "string",
    "int",
    "decimal",
    "date",
    "datetime",
    "email",
    "phone",
    "url",
    "reference",
    "choice",
)
NOT_FILTERABLE = ("text",)  # long text does not fit a btree index entry
EDITABLE = (
    "type",
    "label",
    "help",
    "required",
    "unique",
    "filterable",
    "encrypted",
    "blind_index",
    "default",
    "min",
    "max",
    "min_length",
    "max_length",
    "regex",
    "choices",
    "reference",
    "position",
)
MAX_LISTED = 100  # record ids listed in a refusal


def _labels(value, current: dict | None = None) -> dict:
    labels = _parse_labels(value, current)
    for text in labels.values():  # label_en / label_zh columns of fields and object types alike
        check_length(text, FieldDefinition.label_en, "label")
    return labels


def _parse_labels(value, current: dict | None = None) -> dict:
    current = dict(current or {"en": "", "zh-CN": ""})
    if value is None:
        return current
    if isinstance(value, str):
        return {"en": value, "zh-CN": value}
    if isinstance(value, dict):
        out = dict(current)
        for key, text in value.items():
            lang = "zh-CN" if key.lower().replace("_", "-") in ("zh", "zh-cn", "zh-hans") else key
            if lang not in ("en", "zh-CN"):
                raise APIError(422, "Invalid label.", errors={"label": [f"Unknown language {key!r}."]})
            out[lang] = str(text or "")
        return out
    raise APIError(422, "Invalid label.", errors={"label": ["Give a string or {en, zh-CN}."]})


def _choices(value) -> tuple:
    out, seen = [], set()
    if not isinstance(value, list):
        raise APIError(422, "Invalid choices.", errors={"choices": ["Give a list."]})
    for item in value:
        if isinstance(item, dict) and "value" in item:
            entry = {"value": str(item["value"]), "label": _labels(item.get("label") or str(item["value"]))}
        elif isinstance(item, str | int):
            entry = {"value": str(item), "label": {"en": str(item), "zh-CN": str(item)}}
        else:
            raise APIError(422, "Invalid choices.", errors={"choices": [f"Not a choice: {item!r}."]})
        if not entry["value"] or entry["value"] in seen:
            raise APIError(
                422, "Invalid choices.", errors={"choices": [f"Empty or repeated {entry['value']!r}."]}
            )
        seen.add(entry["value"])
        out.append(entry)
    return tuple(out)


def _number(key: str, value) -> Decimal | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = Decimal(str(value))
        if not number.is_finite():
            raise InvalidOperation
        return number
    except (InvalidOperation, ValueError):
        raise APIError(422, f"Invalid {key}.", errors={key: ["Not a number."]}) from None


def _length(key: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise APIError(422, f"Invalid {key}.", errors={key: ["Must be a whole number >= 0."]})
    return value


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def build_fielddef(entity: str, data: dict, current: FieldDef | None = None) -> FieldDef:
    """The ``FieldDef`` that ``data`` (API input) describes, on top of ``current`` for updates.

    Checks the definition itself (name, type, bounds, choices, default...); 422 per key.
    """
    if _has_nul(data):
        raise APIError(
            422, "Invalid field definition.", errors={"_schema": ["Must not contain NUL characters."]}
        )
    if current is None:
        name = data.get("name")
        model = require_entity(entity)
        if not isinstance(name, str) or not NAME_RE.match(name) or "__" in name:
            raise APIError(
                422,
                "Invalid field name.",
                errors={"name": ["Use 1-63 of a-z, 0-9 and _, starting with a letter, without '__'."]},
            )
        if name in RESERVED_NAMES or name in core_field_names(model):
            raise APIError(
                422,
                f"{name!r} is a core field or list parameter of {entity}.",
                errors={"name": [f"{name!r} is taken by {entity} itself."]},
            )
        # a field always has a label to show: its name until someone gives a better one
        base = FieldDef(
            entity=entity, name=name, type=data.get("type") or "", label={"en": name, "zh-CN": name}
        )
    else:
        base = current
    unknown = sorted(set(data) - set(EDITABLE) - {"name", "entity"})
    if unknown:
        raise APIError(422, "Unknown definition keys.", errors={k: ["Unknown key."] for k in unknown})
    if current is not None and "name" in data and data["name"] != current.name:
        raise APIError(422, "A field cannot be renamed.", errors={"name": ["Cannot be changed."]})
    changes = {}
    if "type" in data:
        changes["type"] = data["type"]
    if "label" in data:
        changes["label"] = _labels(data["label"], base.label)
    if "help" in data:
        changes["help"] = _labels(data["help"], base.help)
    for flag in ("required", "unique", "filterable", "encrypted", "blind_index"):
        if flag in data:
            if not isinstance(data[flag], bool):
                raise APIError(422, f"Invalid {flag}.", errors={flag: ["Must be true or false."]})
            changes[flag] = data[flag]
    for key in ("min", "max"):
        if key in data:
            changes[key] = _number(key, data[key])
    for key in ("min_length", "max_length"):
        if key in data:
            changes[key] = _length(key, data[key])
    if "regex" in data:
        regex = data["regex"] or None
        if regex is not None:
            try:
                re.compile(regex)
            except (re.error, TypeError) as exc:
                raise APIError(
                    422, "Invalid regex.", errors={"regex": [f"Not a valid pattern: {exc}."]}
                ) from None
        changes["regex"] = regex
    if "choices" in data:
        changes["choices"] = _choices(data["choices"] or [])
    if "reference" in data:
        changes["reference"] = data["reference"] or None
    if "position" in data:
        if isinstance(data["position"], bool) or not isinstance(data["position"], int):
            raise APIError(422, "Invalid position.", errors={"position": ["Must be a whole number."]})
        changes["position"] = data["position"]
    fd = replace(base, **changes)
    errors: dict[str, list[str]] = {}
    if fd.type not in FIELD_TYPES:
        errors["type"] = [f"Must be one of {', '.join(FIELD_TYPES)}."]
    else:
        if fd.type in ("choice", "multi-choice") and not fd.choices:
            errors["choices"] = ["A choice field needs choices."]
        if fd.type == "reference":
            if not fd.reference or entity_model(fd.reference) is None:
                errors["reference"] = ["Name the entity this field refers to (customers, companies...)."]
        elif fd.reference:
            errors["reference"] = ["Only reference fields refer to an entity."]
        if fd.min is not None and fd.max is not None and fd.min > fd.max:
            errors["min"] = ["Must not exceed max."]
        if (fd.min is not None or fd.max is not None) and fd.type not in ("int", "decimal"):
            errors["min" if fd.min is not None else "max"] = ["Bounds apply to int and decimal fields."]
        if fd.type == "int":
            for key in ("min", "max"):
                value = getattr(fd, key)
                if value is not None and value != value.to_integral_value():
                    errors[key] = ["Must be a whole number for an int field."]
        if fd.min_length is not None and fd.max_length is not None and fd.min_length > fd.max_length:
            errors["min_length"] = ["Must not exceed max_length."]
        if fd.unique and fd.type not in UNIQUE_TYPES:
            errors["unique"] = [f"{fd.type} fields cannot be unique."]
        if fd.filterable and fd.type in NOT_FILTERABLE:
            errors["filterable"] = ["Long text cannot be indexed; use a string field."]
        errors.update(sealed.definition_errors(fd))
    if errors:
        raise APIError(422, "Invalid field definition.", errors=errors)
    if "default" in data or (current is not None and base.has_default):
        # re-checked on every change: new bounds or a new type may reject the old default
        raw_default = data.get("default", base.default)
        if raw_default is None:
            fd = replace(fd, default=None, has_default=False)
        else:
            try:
                fd = replace(fd, default=check_value(fd, raw_default), has_default=True)
            except ValidationError as exc:
                messages = (
                    exc.messages.get(fd.name, exc.messages)
                    if isinstance(exc.messages, dict)
                    else exc.messages
                )
                raise APIError(422, "Invalid default.", errors={"default": list(messages)}) from None
    return fd


def _row_values(fd: FieldDef) -> dict:
    return {
        "type": fd.type,
        "label_en": fd.label.get("en", ""),
        "label_zh": fd.label.get("zh-CN", ""),
        "help_en": fd.help.get("en", ""),
        "help_zh": fd.help.get("zh-CN", ""),
        "required": fd.required,
        "unique": fd.unique,
        "filterable": fd.filterable,
        "encrypted": fd.encrypted,
        "blind_index": fd.blind_index,
        "default_json": json.dumps(fd.default, ensure_ascii=False) if fd.has_default else None,
        "min_value": str(fd.min) if fd.min is not None else None,
        "max_value": str(fd.max) if fd.max is not None else None,
        "min_length": fd.min_length,
        "max_length": fd.max_length,
        "regex": fd.regex,
        "choices_json": json.dumps(list(fd.choices), ensure_ascii=False),
        "reference": fd.reference,
        "position": fd.position,
        "source": fd.source,
    }


def _stored_values(model, name: str):
    """``(record id, value)`` of every record holding a non-null value under ``name``."""
    probe = FieldDef(entity="", name=name, type="string")
    present = raw_expression(model.custom, probe, _postgres()).is_null(False)
    # in id order: the first record holding a value keeps it, later ones are the duplicates
    for row in model.select(model.id, model.custom).where(present).order_by(model.id).iterator():
        value = (row.custom or {}).get(name)
        if value is not None:
            yield row.id, value


def _postgres() -> bool:
    return is_postgres()


def _refusal(broken: list) -> dict:
    """The details of a 409 over stored values: the first records in the way and why."""
    ids = [rid for rid, _ in broken][:MAX_LISTED]
    details = {str(rid): reason for rid, reason in broken[:MAX_LISTED]}
    return {"errors": {"records": details}, "records": ids, "count": len(broken)}


def check_existing(model, fd: FieldDef, backfill_default: bool = True) -> dict:
    """Check the values stored under ``fd.name`` against ``fd``; returns ``{id: new stored value}``
    for values whose stored form changes (type conversion). Raises 409 listing the records that
    would break (invalid values, missing required values without a default, duplicates)."""
    broken, rewrites, seen = [], {}, {}
    holders = set()
    for rid, stored in _stored_values(model, fd.name):
        holders.add(rid)
        value = sealed.plaintext(fd.entity, rid, fd.name, stored)
        shown = sealed.HIDDEN_VALUE if fd.encrypted or value is not stored else repr(value)
        if fd.type in ("string", "text") and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # numbers become text when a field turns into text
        try:
            converted = check_value(fd, value)
        except ValidationError as exc:
            messages = (
                exc.messages.get(fd.name, exc.messages) if isinstance(exc.messages, dict) else exc.messages
            )
            broken.append((rid, f"{shown}: {' '.join(map(str, messages))}"))
            continue
        if converted != value:
            rewrites[rid] = converted
        if fd.unique:
            key = json.dumps(converted, sort_keys=True)
            if key in seen:
                broken.append((rid, f"{shown} is also the value of record {seen[key]}"))
            else:
                seen[key] = rid
    # the messages are raised as f-strings so the catalogue extractor finds them (translated where shown)
    if broken:
        count, entity, name = len(broken), fd.entity, fd.name
        raise APIError(
            409,
            f"{count} record(s) of {entity} hold values that '{name}' would not accept; "
            "fix or clear them first.",
            **_refusal(broken),
        )
    if fd.required and not (fd.has_default and backfill_default):
        missing = [rid for (rid,) in model.select(model.id).tuples() if rid not in holders]
        if missing:
            count, entity, name = len(missing), fd.entity, fd.name
            raise APIError(
                409,
                f"'{name}' cannot be required without a default: {count} record(s) of "
                f"{entity} have no value.",
                **_refusal([(rid, "no value") for rid in missing]),
            )
    return rewrites


def _apply(model, fd: FieldDef, rewrites: dict, old: FieldDef | None = None) -> None:
    for rid, value in sealed.rewrite_stored(model, fd, old, rewrites).items():
        model.update(custom=model.custom[fd.name].set(value)).where(model.id == rid).execute()
    if fd.required and fd.has_default:
        present = raw_expression(model.custom, replace(fd, type="string"), _postgres()).is_null(False)
        missing = ~present | model.custom.is_null()
        if fd.encrypted:  # each record's default sealed for that record
            for row in model.select().where(missing).iterator():
                value = sealed.rewrite_one(row, fd, fd.default)
                model.update(custom=model.custom[fd.name].set(value)).where(model.id == row.id).execute()
        else:
            model.update(custom=model.custom[fd.name].set(fd.default)).where(missing).execute()


def _live_row(entity: str, name: str) -> FieldDefinition:
    row = FieldDefinition.get_or_none(
        FieldDefinition.entity == entity, FieldDefinition.name == name, FieldDefinition.deleted_at.is_null()
    )
    if row is None:
        raise APIError(404, f"No custom field {name!r} on {entity}.")
    return row


def create_field(entity: str, data: dict, source: str = "") -> FieldDef:
    """Define a new custom field on ``entity``; 409 if it exists or stored data would break."""
    model = require_entity(entity)
    fd = replace(build_fielddef(entity, data), source=source)
    with database.atomic():
        old = FieldDefinition.get_or_none(FieldDefinition.entity == entity, FieldDefinition.name == fd.name)
        if old is not None and old.deleted_at is None:
            raise APIError(
                409,
                f"{entity} already has a custom field {fd.name!r}.",
                errors={"name": ["Already defined."]},
            )
        rewrites = check_existing(model, fd)  # values kept from a deleted field of that name
        if old is not None:
            old.delete_instance()
        try:
            with database.atomic():
                row = FieldDefinition.create(entity=entity, name=fd.name, **_row_values(fd))
                fd = fielddef_from_row(row)
                _apply(model, fd, rewrites)
                sync_indexes(model, fd)
        except pw.IntegrityError:
            # a concurrent definition of the same name, or duplicates written meanwhile
            raise APIError(409, f"{entity}.{fd.name} conflicts with a concurrent change; retry.") from None
        bump_version()
        written("create", "fields", fd.id, None, fd.as_dict())
    return fd


def update_field(entity: str, name: str, data: dict) -> FieldDef:
    """Change a custom field's definition after checking the stored values (409 listing breakage)."""
    model = require_entity(entity)
    with database.atomic():
        row = _live_row(entity, name)
        old = fielddef_from_row(row)
        fd = build_fielddef(entity, data, current=old)
        rewrites = check_existing(model, fd)
        FieldDefinition.update(updated_at=utcnow(), **_row_values(fd)).where(
            FieldDefinition.id == row.id
        ).execute()
        fd = fielddef_from_row(FieldDefinition.get_by_id(row.id))
        try:
            with database.atomic():
                _apply(model, fd, rewrites, old)
                sync_indexes(model, fd, old)
        except pw.IntegrityError:
            raise APIError(409, f"{entity}.{fd.name} conflicts with a concurrent change; retry.") from None
        bump_version()
        written("update", "fields", fd.id, old.as_dict(), fd.as_dict())
    return fd


def delete_field(entity: str, name: str, purge: bool = False) -> None:
    """Delete a custom field: the definition goes, the values stay in the records until ``purge``
    (or ``purge=True`` removes them now)."""
    model = require_entity(entity)
    with database.atomic():
        row = FieldDefinition.get_or_none(FieldDefinition.entity == entity, FieldDefinition.name == name)
        if row is None or (row.deleted_at is not None and not purge):
            raise APIError(404, f"No custom field {name!r} on {entity}.")
        old = fielddef_from_row(row)
        sync_indexes(model, None, old)
        if purge:
            purge_values(model, name)
            row.delete_instance()
        else:
            row.deleted_at = utcnow()
            row.save()
        bump_version()
        written("delete", "fields", old.id, {**old.as_dict(), "purged": purge}, None)


def purge_values(model, name: str) -> int:
    """Remove the values stored under ``name`` from every record of ``model``; returns how many."""
    ids = [rid for rid, _ in _stored_values(model, name)]
    probe = FieldDef(entity="", name=name, type="string")
    present = raw_expression(model.custom, probe, _postgres()).is_null(False)
    if ids:
        model.update(custom=model.custom[name].remove()).where(present).execute()
    # JSON nulls are not "values" but are purged too
    model.update(custom=model.custom[name].remove()).where(model.custom.has_key(name)).execute()
    return len(ids)


def deleted_fields(entity: str) -> list[FieldDef]:
    """Fields of ``entity`` deleted but not purged (their values are still stored)."""
    rows = FieldDefinition.select().where(
        FieldDefinition.entity == entity, FieldDefinition.deleted_at.is_null(False)
    )
    return [fielddef_from_row(r) for r in rows.order_by(FieldDefinition.name)]
