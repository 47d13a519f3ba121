"""Custom object types: one table for every type's records, one model class per type.

``object_model("course")`` is a subclass of :class:`ObjectRecord` whose ``select``, ``update`` and
``delete`` are confined to ``type = 'course'`` and whose inserts default to it. The generic list
API, write path and permission functions take it like any core model, so custom objects get the
same filters, sorting, search, scopes, audit and events with no special cases. This module
defines, changes and deletes types; looking them up is :mod:`crm_core.custom.object_types`.
"""

from __future__ import annotations

from ..db import database, utcnow
from ..errors import APIError
from .definitions import _labels, create_field
from .expressions import custom_expression, sync_indexes
from .fielddefs import NAME_RE, TEXT_TYPES, bump_version, custom_fields, fielddef_from_row
from .journal import written
from .models import FieldDefinition, ObjectType
from .object_types import (  # noqa: F401  (type_exists, type_names: public here too)
    object_model,
    object_type,
    type_exists,
    type_names,
)


def create_type(name: str, label=None, description: str = "", fields=(), source: str = "") -> dict:
    """Define the custom object type ``name`` with optional field definitions (one transaction).

    409 if the type exists; 422 for a bad name or field definition.
    """
    if not isinstance(name, str) or not NAME_RE.match(name) or "__" in name:
        raise APIError(
            422, "Invalid type name.", errors={"name": ["Use a-z, 0-9 and _, starting with a letter."]}
        )
    labels = _labels(label if label is not None else name)
    if "\x00" in "".join(labels.values()) + (description or ""):
        raise APIError(422, "Invalid type.", errors={"label": ["Must not contain NUL characters."]})
    with database.atomic():
        if ObjectType.select().where(ObjectType.name == name).exists():
            raise APIError(
                409, f"Custom object type {name!r} already exists.", errors={"name": ["Already defined."]}
            )
        ObjectType.create(
            name=name,
            label_en=labels["en"],
            label_zh=labels["zh-CN"],
            description=description or "",
            source=source,
        )
        bump_version()
        for position, spec in enumerate(fields or ()):
            spec = dict(spec)
            spec.setdefault("position", position)
            try:
                create_field(f"objects.{name}", spec, source=source)
            except APIError as exc:
                # name the failing field so the caller knows which item of "fields" is wrong
                errors = {
                    f"fields.{spec.get('name', position)}.{k}": v for k, v in exc.data["errors"].items()
                }
                raise APIError(exc.code, exc.message, errors=errors) from None
        written("create", "object_types", name, None, object_type(name))
    return object_type(name)


def update_type(name: str, label=None, description: str | None = None) -> dict:
    """Change the labels or description of a custom object type."""
    row = ObjectType.get_or_none(ObjectType.name == name)
    if row is None:
        raise APIError(404, f"No custom object type {name!r}.")
    before = object_type(name)
    if label is not None:
        labels = _labels(label, {"en": row.label_en, "zh-CN": row.label_zh})
        row.label_en, row.label_zh = labels["en"], labels["zh-CN"]
    if description is not None:
        row.description = description
    row.updated_at = utcnow()
    with database.atomic():
        row.save()
        bump_version()
        written("update", "object_types", name, before, object_type(name))
    return object_type(name)


def delete_type(name: str) -> None:
    """Delete a custom object type that has no records, with its field definitions; 409 otherwise."""
    row = ObjectType.get_or_none(ObjectType.name == name)
    if row is None:
        raise APIError(404, f"No custom object type {name!r}.")
    model = object_model(name)
    count = model.select().count()
    if count:
        raise APIError(409, f"Custom object type {name!r} still has {count} record(s); delete them first.")
    with database.atomic():
        entity = f"objects.{name}"
        for field_row in list(FieldDefinition.select().where(FieldDefinition.entity == entity)):
            sync_indexes(model, None, fielddef_from_row(field_row))
            field_row.delete_instance()
        before = object_type(name)
        row.delete_instance()
        bump_version()
        written("delete", "object_types", name, before, None)


def search_fields(type_name: str) -> list:
    """What ``q`` searches in records of a type: the name and every text-like custom field
    (not the ``type`` column, which every record of the type shares)."""
    model = object_model(type_name)
    fields = [model.name]
    for fd in custom_fields(f"objects.{type_name}"):
        if fd.type in TEXT_TYPES:
            fields.append(custom_expression(model, fd.name))
    return fields
