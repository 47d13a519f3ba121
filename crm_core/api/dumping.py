"""Dumping records with a marshmallow schema, without its per-field plumbing on every row.

``Schema.dump`` asks, for every field of every row, ``Field.serialize``, which asks
``Field.get_value``, which asks the schema's ``get_attribute``, which asks
``marshmallow.utils.get_value``: four calls before the field's own ``_serialize``. On a list page
of records that is most of what the dump costs. :func:`dump` works out once per schema what those
calls would decide for attributes read off a model instance (a plain attribute name, the field's
default), and gives exactly what ``schema.dump`` gives; a schema or field that customises any of
those steps (dump hooks, its own ``get_attribute``, ``serialize`` or ``get_value``, a dotted
attribute) is dumped by marshmallow itself.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, missing

_PLANS: dict[int, tuple[Schema, list | None]] = {}  # id(schema) -> (the schema, its plan)


def dump(schema: Schema, data: Any, many: bool) -> Any:
    """``schema.dump(data, many=many)``, for records read off the database (objects without
    ``__getitem__``); the same result."""
    plan = _plan(schema)
    if plan is None:
        return schema.dump(data, many=many)
    rows = data if many else [data]
    if any(hasattr(row, "__getitem__") for row in rows[:1]):
        return schema.dump(data, many=many)
    dumped = [_row(plan, row) for row in rows]
    return dumped if many else dumped[0]


def _row(plan: list, row) -> dict:
    out = {}
    for name, key, attribute, serialize, default in plan:
        if attribute is None:  # (a field that reads no attribute: Method, Function)
            value = serialize(None, name, row)
        else:
            value = getattr(row, attribute, missing)
            if value is missing:
                value = default() if callable(default) else default
                if value is missing:
                    continue
            value = serialize(value, name, row)
        if value is not missing:
            out[key] = value
    return out


def _plan(schema: Schema) -> list | None:
    """Per dumped field: (name, output key, attribute or None, its ``_serialize``, its dump
    default); None when marshmallow must dump this schema itself."""
    cached = _PLANS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    plan = _build(schema)
    if len(_PLANS) > 1000:  # (schemas are built once per resource and hidden set: never reached)
        _PLANS.clear()
    _PLANS[id(schema)] = (schema, plan)
    return plan


def _build(schema: Schema) -> list | None:
    if schema._hooks["pre_dump"] or schema._hooks["post_dump"]:
        return None
    if type(schema).get_attribute is not Schema.get_attribute or schema.dict_class is not dict:
        return None
    plan = []
    for name, field in schema.dump_fields.items():
        kind = type(field)
        if kind.serialize is not fields.Field.serialize or kind.get_value is not fields.Field.get_value:
            return None
        attribute = (
            (field.attribute if field.attribute is not None else name) if field._CHECK_ATTRIBUTE else None
        )
        if attribute is not None and "." in attribute:
            return None
        key = field.data_key if field.data_key is not None else name
        plan.append((name, key, attribute, field._serialize, field.dump_default))
    return plan
