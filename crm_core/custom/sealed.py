"""Encrypted custom fields: what a definition may say, how values are sealed on write, indexed
for exact lookup, found again, and rewritten when a definition turns encryption on or off.

A field defined with ``"encrypted": true`` stores each value as an envelope token
(``crm_core.crypto``) whose associated data names the record and field, bound to the person the
record belongs to (:func:`subject_for`), so erasing that person (shredding their key) makes every
copy unreadable. Values are decrypted only by the read decision (``permissions.View.dump``), for
readers who may see the field. ``"blind_index": true`` adds a truncated keyed hash per value
(``crypto_blind_index``) so ``?<field>=<value>`` finds records without decrypting the table;
candidates are decrypted to drop the hash's false matches. An encrypted field is never unique,
range-filtered, sorted or searched: those would need the plaintext in SQL.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError

from .. import crypto
from ..crypto.models import BlindIndex
from ..crypto.rotation import SealedValues
from ..db import database, is_postgres
from ..errors import APIError
from .expressions import raw_expression
from .extensible import entity_model
from .fielddefs import FIELD_TYPES, FieldDef, custom_fields
from .models import FieldDefinition
from .validation import check_value

#: Types whose values may be encrypted (a reference stays plain: the database checks it).
ENCRYPTABLE = tuple(t for t in FIELD_TYPES if t != "reference")
#: Types a blind index can look up (exact match of one scalar value).
INDEXABLE = ("string", "int", "choice", "email", "phone", "url", "date")
#: Shown instead of a value in messages about encrypted fields (never the value itself).
HIDDEN_VALUE = "(encrypted)"


def definition_errors(fd: FieldDef) -> dict[str, list[str]]:
    """Per-key messages for what an encrypted (or blind-indexed) definition may not say."""
    errors: dict[str, list[str]] = {}
    if fd.encrypted:
        if fd.type not in ENCRYPTABLE:
            errors["encrypted"] = [f"{fd.type} fields cannot be encrypted."]
        if fd.unique:
            errors["unique"] = ["An encrypted field cannot be unique; use a blind index to find values."]
        if fd.filterable:
            errors["filterable"] = [
                "An encrypted field cannot be range-filtered or sorted; use a blind index for exact match."
            ]
    if fd.blind_index:
        if not fd.encrypted:
            errors["blind_index"] = ["A blind index is for encrypted fields; make the field filterable."]
        elif fd.type not in INDEXABLE:
            errors["blind_index"] = [f"{fd.type} fields cannot have a blind index."]
    return errors


def encrypted_fields(entity: str) -> dict[str, FieldDef]:
    """The live encrypted fields of ``entity`` by name (empty for most entities)."""
    return {fd.name: fd for fd in custom_fields(entity) if fd.encrypted}


def subject_for(entity: str, record) -> str | None:
    """The person whose key a record's encrypted values are bound to: the customer itself, the
    customer a record belongs to (a ``customer`` column), or the first custom reference to a
    customer; None when the record belongs to no one."""
    if entity == "customers":
        return f"customers/{record.id}"
    customer_id = getattr(record, "customer_id", None) if "customer" in record._meta.fields else None
    if customer_id is None:
        values = getattr(record, "custom", None) or {}
        for fd in custom_fields(entity):
            if fd.type == "reference" and fd.reference == "customers" and values.get(fd.name) is not None:
                customer_id = values[fd.name]
                break
    return f"customers/{customer_id}" if customer_id is not None else None


def split_secret(entity: str, values: dict) -> dict:
    """Remove and return the encrypted fields' values from ``values`` (a new record's validated
    ``custom``): the row is inserted without them and sealed once its id is known, so no
    plaintext ever reaches the table or the write-ahead log."""
    secret = {}
    for name in encrypted_fields(entity):
        if name in values:
            secret[name] = values.pop(name)
    return secret


def seal(entity: str, record, values: dict, stored: dict | None = None) -> dict:
    """``values`` (validated plaintext, by field) with the encrypted fields' values sealed for
    ``record`` (None stays None: it clears the value). A value equal to what ``stored`` already
    holds keeps its token, so rewriting the same value is not a change."""
    fields = encrypted_fields(entity)
    if not fields:
        return values
    subject = subject_for(entity, record)
    out = dict(values)
    for name, value in values.items():
        if name in fields and value is not None and not crypto.is_token(value):
            out[name] = _seal_one(entity, record.id, name, value, (stored or {}).get(name), subject)
    return out


def _seal_one(entity: str, record_id, name: str, value: Any, old: Any, subject: str | None) -> str:
    ctx = crypto.context(entity, record_id, name)
    if (
        crypto.is_token(old)
        and crypto.subject_of(old) == subject
        and crypto.readable(old, ctx) == (True, value)
    ):
        return old
    return crypto.seal_value(value, ctx, subject)


def index(entity: str, record_id: int, values: dict) -> None:
    """Bring the blind index of ``record_id`` in line with ``values`` (plaintext by field; None
    removes the entry). Fields without a blind index are ignored."""
    for name, fd in encrypted_fields(entity).items():
        if fd.blind_index and name in values:
            _index_one(entity, record_id, name, values[name])


def unindex(entity: str, record_id: int) -> None:
    """Forget the blind index entries of a deleted record."""
    BlindIndex.delete().where(BlindIndex.entity == entity, BlindIndex.record_id == record_id).execute()


def _digest(entity: str, name: str, value: Any) -> str:
    return crypto.blind_index(str(value), f"{entity}.{name}")


def matching_ids(model, entity: str, fd: FieldDef, raw_values: list[str]) -> list[int]:
    """Ids of the records of ``model`` whose encrypted field ``fd`` equals one of ``raw_values``
    (query-string text, in the field's stored form once validated): blind-index candidates,
    decrypted to keep only the true matches. 400 when the field has no blind index or a value is
    not one the field could hold (the message never repeats the value)."""
    if not fd.blind_index:
        raise APIError(
            400,
            f"{fd.name!r} is encrypted: it can be searched only by exact value, with a blind index.",
            errors={fd.name: ["Encrypted without a blind index: not searchable."]},
        )
    wanted = []
    for raw in raw_values:
        try:
            wanted.append(check_value(fd, raw))
        except ValidationError:
            raise APIError(
                400,
                f"Invalid value for filter {fd.name!r}.",
                errors={fd.name: [f"Not a valid {fd.type} value."]},
            ) from None
    digests = {_digest(entity, fd.name, value) for value in wanted}
    candidates = BlindIndex.select(BlindIndex.record_id).where(
        BlindIndex.entity == entity, BlindIndex.field == fd.name, BlindIndex.digest.in_(sorted(digests))
    )
    rows = model.select(model.id, model.custom).where(model.id.in_(candidates))
    found = []
    for row in rows:
        ok, value = crypto.readable((row.custom or {}).get(fd.name), crypto.context(entity, row.id, fd.name))
        if ok and value in wanted:
            found.append(row.id)
    return found


def plaintext(entity: str, record_id, name: str, stored: Any) -> Any:
    """A stored value as plaintext (tokens opened; None when one no longer opens)."""
    if not crypto.is_token(stored):
        return stored
    return crypto.readable(stored, crypto.context(entity, record_id, name))[1]


def rewrite_stored(model, fd: FieldDef, old: FieldDef | None, rewrites: dict) -> dict:
    """The ``{record id: stored value}`` a definition change writes, completed for encryption:
    every value sealed when the field is (or becomes) encrypted, opened when it stops being, and
    the blind index rebuilt or dropped. ``rewrites`` holds the plaintext of values whose form
    changes (a type conversion)."""
    was = bool(old and old.encrypted)
    if not fd.encrypted and not was:
        return rewrites
    entity = fd.entity
    out, index = {}, []
    rows = model.select().where(model.custom.is_null(False))
    for row in rows.iterator():
        stored = (row.custom or {}).get(fd.name)
        if stored is None:
            continue
        value = rewrites.get(row.id, plaintext(entity, row.id, fd.name, stored))
        if fd.encrypted and value is not None:
            new = _seal_one(entity, row.id, fd.name, value, stored, subject_for(entity, row))
        else:
            new = value
        if new != stored:
            out[row.id] = new
        if fd.blind_index and value is not None:
            index.append(
                {
                    "entity": entity,
                    "field": fd.name,
                    "record_id": row.id,
                    "digest": _digest(entity, fd.name, value),
                }
            )
    if fd.blind_index or (old and old.blind_index):
        # the whole field's index at once: dropped, then rebuilt from the values just read
        BlindIndex.delete().where(BlindIndex.entity == entity, BlindIndex.field == fd.name).execute()
        for start in range(0, len(index), 1000):
            BlindIndex.insert_many(index[start : start + 1000]).execute()
    return out


def rewrite_one(row, fd: FieldDef, value: Any) -> str:
    """The token of ``value`` for ``fd`` on record ``row`` (a default written into old records),
    indexed when the field has a blind index."""
    if fd.blind_index:
        _index_one(fd.entity, row.id, fd.name, value)
    return _seal_one(fd.entity, row.id, fd.name, value, None, subject_for(fd.entity, row))


def _index_one(entity: str, record_id: int, name: str, value: Any) -> None:
    where = (BlindIndex.entity == entity, BlindIndex.field == name, BlindIndex.record_id == record_id)
    BlindIndex.delete().where(*where).execute()
    if value is not None:
        BlindIndex.insert(
            entity=entity, field=name, record_id=record_id, digest=_digest(entity, name, value)
        ).execute()


def sealed_values() -> list:
    """One :class:`crypto.rotation.SealedValues` per encrypted custom field (fields deleted but
    not purged too: their tokens still need their key)."""
    out = []
    postgres = database.obj is not None and is_postgres()
    for row in FieldDefinition.select().where(FieldDefinition.encrypted == True):  # noqa: E712
        model = entity_model(row.entity)
        if model is None:
            continue
        probe = FieldDef(entity=row.entity, name=row.name, type="string")
        out.append(
            SealedValues(
                name=f"{row.entity}.{row.name}",
                model=model,
                value=raw_expression(model.custom, probe, postgres),
                context=lambda rid, e=row.entity, n=row.name: crypto.context(e, rid, n),
                assign=lambda new, m=model, n=row.name: {m.custom: m.custom[n].set(new)},
                json_key=row.name,
            )
        )
    return out
