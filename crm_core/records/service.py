"""The one write path: ``create``, ``update`` and ``delete`` for core objects, custom objects and plugins.

Every write runs in one ``database.atomic()`` block that

1. checks permissions (``crm_core.permissions``: the action itself, read-only/hidden fields written,
   and that the record is not placed outside the actor's row scope),
2. validates ``custom`` against the field definitions (``crm_core.custom.validate_custom``) and
   refuses references to records that do not exist or that the actor may not read
   (``crm_core.records.references.check``: 422 per field, alike for both),
3. saves the row (plus whatever the caller's ``before_save`` / ``after_save`` do, e.g. tags),
4. calls ``crm_record_written(change=Change(...))`` so audit, outbox and plugins see the change
   inside the same transaction (raising there rolls the write back).

Callers pass validated, schema-loaded data. Keys that are not columns of the model (``tags``) are
left to ``before_save`` / ``after_save``; the service only assigns columns.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import peewee as pw

from .. import custom, permissions
from ..bulk import insert_one
from ..changes import record_written
from ..custom import sealed
from ..db import database, is_postgres, utcnow, write_transaction
from ..errors import APIError
from ..inputs import reject_nul  # noqa: F401  one definition for every input, re-exported
from . import references

Hook = Callable[[Any, dict, dict | None], None]

#: Columns callers never assign directly: the service and the database own them.
PROTECTED = frozenset({"id", "created_at", "updated_at"})


def to_json(value: Any) -> Any:
    """A JSON-ready copy of one column value (Decimal as string, times as ISO 8601)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def record_dict(record: pw.Model) -> dict:
    """The record's columns as a JSON-ready dict (foreign keys under their column name, ``owner_id``)."""
    out = {}
    for name, field in record._meta.fields.items():
        if isinstance(field, pw.ForeignKeyField):
            out[field.column_name] = to_json(record.__data__.get(name))
        else:
            out[name] = to_json(record.__data__.get(name))
    return out


def columns(model: type[pw.Model]) -> dict[str, pw.Field]:
    """Assignable columns of ``model`` by API name (foreign keys by field name and by ``<name>_id``)."""
    out = {}
    for name, field in model._meta.fields.items():
        if name in PROTECTED:
            continue
        out[name] = field
        if isinstance(field, pw.ForeignKeyField):
            out[field.column_name] = field
    return out


def _assign(record: pw.Model, data: dict) -> None:
    cols = columns(type(record))
    for key, value in data.items():
        field = cols.get(key)
        if field is None or key == "custom":
            continue
        setattr(record, field.name, value)


def _has_custom(model) -> bool:
    return isinstance(model._meta.fields.get("custom"), pw.Field)


def _has_scope_columns(model) -> bool:
    return "owner_id" in model._meta.fields and "department_id" in model._meta.fields


def _json_path(key: str) -> str:
    escaped = str(key).replace("\\", "\\\\").replace('"', '\\"')
    return f'$."{escaped}"'


def merge_custom(field: pw.Field, patch: dict):
    """SQL for ``field`` (a JSON column) with the keys of ``patch`` set and those given ``None``
    removed, evaluated against the stored value: concurrent writers of other keys are kept.

    Shallow, like the Python merge: a key's value is replaced whole (``jsonb - keys || patch`` on
    PostgreSQL, ``json_remove(json_set(...))`` on SQLite, not ``json_patch``, which would merge
    nested objects key by key)."""
    dumps = field._dumps
    setting = {k: v for k, v in patch.items() if v is not None}
    removing = [k for k, v in patch.items() if v is None]
    if is_postgres():
        expr = pw.fn.COALESCE(field, pw.Cast(pw.Value("{}"), "jsonb"))
        for key in removing:
            expr = pw.Expression(expr, "-", pw.Cast(pw.Value(key), "text"))
        if setting:
            expr = pw.Expression(expr, "||", pw.Cast(pw.Value(dumps(setting)), "jsonb"))
        return expr
    expr = pw.fn.COALESCE(field, pw.fn.json("{}"))
    if setting:
        pairs = []
        for key, value in setting.items():
            pairs += [_json_path(key), pw.fn.json(dumps(value))]
        expr = pw.fn.json_set(expr, *pairs)
    if removing:
        expr = pw.fn.json_remove(expr, *[_json_path(k) for k in removing])
    return expr


def write_changes(record: pw.Model, custom_patch: dict | None = None) -> None:
    """UPDATE only what changed on ``record``: the columns assigned since it was read (peewee's
    dirty set: the caller's data and whatever hooks set) and ``updated_at``. With ``custom_patch``
    (the validated partial ``custom``), ``custom`` is merged with the stored value in SQL
    (:func:`merge_custom`) rather than written whole, so a writer that read the row without its
    lock still loses no other writer's keys. 409 on a unique or reference conflict, which fails
    the transaction it runs in: call it inside the write's own ``write_transaction()``."""
    model = type(record)
    meta = model._meta
    if "updated_at" in meta.fields:
        record.updated_at = utcnow()
    dirty = set(record._dirty) - {meta.primary_key.name}
    custom = meta.fields.get("custom")
    if custom_patch is not None and custom is not None:
        dirty.discard(custom.name)
    values: dict = {meta.fields[name]: record.__data__.get(name) for name in dirty if name in meta.fields}
    if custom_patch and custom is not None:
        values[custom] = merge_custom(custom, custom_patch)
    if not values:
        return
    with _conflicts_as_409():
        model.update(values).where(meta.primary_key == record._pk).execute()
    record._dirty.clear()


@contextmanager
def _conflicts_as_409():
    """One write; 409 when it breaks a unique value or a reference. No savepoint of its own (two
    round trips on every write): each caller runs it inside the write's ``write_transaction()``,
    a savepoint itself when nested, which the 409 leaves, so the rollback undoes that write and
    keeps an outer transaction usable on PostgreSQL."""
    try:
        yield
    except pw.IntegrityError as exc:
        raise APIError(
            409, "The record conflicts with an existing one (a unique value or a reference)."
        ) from exc


def _insert(record: pw.Model) -> None:
    """INSERT a new record as ``save(force_insert=True)`` would, its SQL built once per model and
    columns (``bulk.insert_one``) when the database numbers its rows (an auto-increment id)."""
    meta = type(record)._meta
    pk = meta.primary_key
    if not isinstance(pk, pw.AutoField) or record.__data__.get(pk.name) is not None:
        record.save(force_insert=True)
        return
    values = {name: value for name, value in record.__data__.items() if name != pk.name}
    record._pk = insert_one(type(record), values)
    record._dirty.clear()


def _store_secret(resource: str, record: pw.Model, secret: dict) -> None:
    """Seal a new record's encrypted values now that its id names them, and index them."""
    tokens = sealed.seal(resource, record, secret)
    record.custom = {**(record.custom or {}), **tokens}
    write_changes(record, tokens)
    sealed.index(resource, record.get_id(), secret)


def create(
    resource: str,
    model: type[pw.Model],
    data: dict,
    actor,
    *,
    before_save: Hook | None = None,
    after_save: Hook | None = None,
    serialize: Callable[[pw.Model], dict] = record_dict,
    extra: dict | None = None,
) -> pw.Model:
    """Create a ``model`` row from validated ``data`` as ``actor``; returns the saved record.

    ``resource`` is the permission resource (``customers``, ``objects.course``). Ownership defaults
    to the actor (``owner_id``) and the department to the owner's when the model has those columns
    (``permissions.place`` checks both against the actor's scope).
    ``before_save(record, data, None)`` runs after assignment and before the insert (normalise,
    check uniqueness); ``after_save(record, data, None)`` runs after it (many-to-many rows,
    history). Raises ``APIError`` 403 (permissions), 409 (conflict), 422 (custom fields, references).
    """
    data = dict(data)
    reject_nul(data)
    with write_transaction():
        permissions.require(actor, resource, "create")
        permissions.check_writable(actor, resource, data)
        if _has_scope_columns(model):
            data.setdefault("owner_id", actor.id if actor is not None else None)
            data["owner_id"], data["department_id"] = permissions.place(
                actor,
                resource,
                "create",
                data["owner_id"],
                data.get("department_id", permissions.OWNER_DEPARTMENT),
            )
        references.check(resource, model, data, actor)
        record = model()
        _assign(record, data)
        secret = None
        if _has_custom(model):
            record.custom = custom.validate_custom(resource, data.get("custom") or {}, partial=False)
        if before_save:
            before_save(record, data, None)
        if _has_custom(model):
            secret = sealed.split_secret(resource, record.custom)
        with _conflicts_as_409():
            _insert(record)
        if secret:
            _store_secret(resource, record, secret)
        if after_save:
            after_save(record, data, None)
        record_written("create", resource, record, actor, None, serialize(record), extra)
    return record


def update(
    resource: str,
    record: pw.Model,
    data: dict,
    actor,
    *,
    before_save: Hook | None = None,
    after_save: Hook | None = None,
    serialize: Callable[[pw.Model], dict] = record_dict,
    extra: dict | None = None,
) -> pw.Model:
    """Apply the partial, validated ``data`` to ``record`` as ``actor``; returns the record.

    ``custom`` is merged key by key (a key set to ``None`` clears that value). Moving a record to
    another owner or department is checked by ``permissions.place`` (a new owner brings the
    record to their department unless one is given). The hooks receive the
    before-image (a dict) as their third argument.

    Only what changes is written (:func:`write_changes`): the columns in ``data`` or set by the
    hooks, and the ``custom`` keys given, merged in SQL. To refuse stale writes (``If-Match``) or
    derive new values from old ones, read ``record`` with its row lock inside the caller's
    ``db.write_transaction()`` (``permissions.get_record(..., lock=True)``), as the PATCH view does.
    """
    data = dict(data)
    reject_nul(data)
    model = type(record)
    with write_transaction():
        permissions.require(actor, resource, "update", record)
        permissions.check_writable(actor, resource, data)
        data = permissions.without_masked_echoes(actor, resource, data, serialize(record))
        if _has_scope_columns(model) and ({"owner_id", "department_id"} & set(data)):
            # a new owner brings the record to their department unless one is given with it
            owner_changes = "owner_id" in data and data["owner_id"] != record.owner_id
            default = permissions.OWNER_DEPARTMENT if owner_changes else record.department_id
            data["owner_id"], data["department_id"] = permissions.place(
                actor,
                resource,
                "update",
                data.get("owner_id", record.owner_id),
                data.get("department_id", default),
            )
        references.check(resource, model, data, actor, record)
        before = serialize(record)
        _assign(record, data)
        patch = merged = None
        if _has_custom(model) and "custom" in data:
            plain = custom.validate_custom(
                resource, data.get("custom") or {}, partial=True, record_id=record.get_id()
            )
            patch = sealed.seal(resource, record, plain, record.custom)
            sealed.index(resource, record.get_id(), plain)
            merged = dict(record.custom or {})
            for key, value in patch.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            record.custom = merged
        if before_save:
            before_save(record, data, before)
        if patch is not None and record.custom != merged:
            patch = None  # a hook rewrote custom itself: write its value whole
        write_changes(record, patch)
        if after_save:
            after_save(record, data, before)
        record_written("update", resource, record, actor, before, serialize(record), extra)
    return record


def delete(
    resource: str,
    record: pw.Model,
    actor,
    *,
    before_delete: Callable[[pw.Model], None] | None = None,
    serialize: Callable[[pw.Model], dict] = record_dict,
    extra: dict | None = None,
) -> None:
    """Delete ``record`` as ``actor``. 403 when not allowed; 409 when other rows still refer to it."""
    with write_transaction():
        permissions.require(actor, resource, "delete", record)
        before = serialize(record)
        if before_delete:
            before_delete(record)
        try:
            with database.atomic():
                record.delete_instance()
                sealed.unindex(resource, record.get_id())
        except pw.IntegrityError as exc:
            raise APIError(
                409, "The record is still referenced by other records; remove those first."
            ) from exc
        record_written("delete", resource, record, actor, before, None, extra)
