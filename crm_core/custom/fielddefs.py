"""``FieldDef`` (an immutable view of one field definition) and the per-database cache of them.

Every process keeps the definitions of each database it talks to, keyed by the database and the
``metadata_state.version`` token that any definition change replaces; a worker therefore
notices another worker's change on its next request without any message bus. The version is read
at most once per request.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .. import stamps
from ..db import database
from ..errors import APIError
from .models import FieldDefinition, MetadataState, ObjectType

FIELD_TYPES = (
    "string",
    "text",
    "int",
    "decimal",
    "bool",
    "date",
    "datetime",
    "choice",
    "multi-choice",
    "reference",
    "email",
    "phone",
    "url",
)
TEXT_TYPES = ("string", "text", "choice", "email", "phone", "url")
NUMERIC_TYPES = ("int", "decimal")

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")  # \Z: "$" would allow a trailing newline
# Query parameters of the list API: a custom field named like one could never be filtered.
RESERVED_NAMES = frozenset(
    {"page", "page_size", "sort", "q", "after", "tag", "custom", "id", "type", "fields"}
)


@dataclass(frozen=True)
class FieldDef:
    """One custom field: what the validator, the list API and the UI need to know about it."""

    entity: str
    name: str
    type: str
    label: dict = field(default_factory=dict)  # {"en": ..., "zh-CN": ...}
    help: dict = field(default_factory=dict)
    required: bool = False
    unique: bool = False
    filterable: bool = False
    encrypted: bool = False
    blind_index: bool = False
    default: Any = None
    has_default: bool = False
    min: Decimal | None = None
    max: Decimal | None = None
    min_length: int | None = None
    max_length: int | None = None
    regex: str | None = None
    choices: tuple = ()  # ({"value", "label": {"en", "zh-CN"}}, ...)
    reference: str | None = None
    position: int = 0
    source: str = ""
    id: int | None = None

    @property
    def choice_values(self) -> list[str]:
        """The allowed values of a choice or multi-choice field."""
        return [c["value"] for c in self.choices]

    def as_dict(self) -> dict:
        """JSON-ready view (the fields API's representation)."""
        return {
            "id": self.id,
            "entity": self.entity,
            "name": self.name,
            "type": self.type,
            "label": dict(self.label),
            "help": dict(self.help),
            "required": self.required,
            "unique": self.unique,
            "filterable": self.filterable,
            "encrypted": self.encrypted,
            "blind_index": self.blind_index,
            "default": self.default if self.has_default else None,
            "min": _num_out(self.min),
            "max": _num_out(self.max),
            "min_length": self.min_length,
            "max_length": self.max_length,
            "regex": self.regex,
            "choices": [dict(c) for c in self.choices],
            "reference": self.reference,
            "position": self.position,
            "source": self.source,
        }

    def to_python(self, raw: Any) -> Any:
        """Coerce a filter value (usually query-string text) to what :func:`custom_expression`
        compares against; raises ``APIError(400)`` naming the field when it cannot be parsed."""
        try:
            return _parse_query_value(self, raw)
        except (ValueError, TypeError, InvalidOperation):
            raise APIError(
                400,
                f"Invalid value for filter {self.name!r}.",
                errors={self.name: [f"Not a valid {self.type} value: {raw!r}."]},
            ) from None


def _num_out(value: Decimal | None):
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else str(value)


def _parse_query_value(fd: FieldDef, raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(raw, str) and "\x00" in raw:
        raise ValueError(raw)  # PostgreSQL cannot compare text holding NUL
    if fd.type in ("int", "reference"):
        if isinstance(raw, bool):
            raise ValueError(raw)
        if isinstance(raw, int):
            return raw
        text = str(raw).strip()
        if not re.fullmatch(r"[+-]?\d{1,19}", text) or not -(2**63) <= int(text) < 2**63:
            raise ValueError(raw)
        return int(text)
    if fd.type == "decimal":
        value = Decimal(str(raw).strip())
        if not value.is_finite():
            raise ValueError(raw)
        return value
    if fd.type == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if fd.type == "date":
        if isinstance(raw, dt.datetime):
            return raw.date().isoformat()
        if isinstance(raw, dt.date):
            return raw.isoformat()
        return dt.date.fromisoformat(str(raw).strip()).isoformat()
    if fd.type == "datetime":
        return datetime_storage(raw if isinstance(raw, dt.datetime) else _parse_datetime(str(raw)))
    if fd.type == "email":
        return str(raw).strip().lower()
    return str(raw)


def _parse_datetime(text: str) -> dt.datetime:
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if len(text) == 10:  # a date alone means its midnight UTC
        return dt.datetime.fromisoformat(text + "T00:00:00")
    return dt.datetime.fromisoformat(text)


def datetime_storage(value: dt.datetime) -> str:
    """A datetime as stored in ``custom``: UTC, whole seconds, fixed width, ``Z``-suffixed, so
    text order is time order in SQL on both databases."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def fielddef_from_row(row) -> FieldDef:
    """Build the immutable ``FieldDef`` of a ``FieldDefinition`` row."""
    choices = []
    for item in json.loads(row.choices_json or "[]"):
        if isinstance(item, dict):
            choices.append({"value": str(item["value"]), "label": dict(item.get("label") or {})})
        else:
            choices.append({"value": str(item), "label": {}})
    return FieldDef(
        entity=row.entity,
        name=row.name,
        type=row.type,
        label={"en": row.label_en, "zh-CN": row.label_zh},
        help={"en": row.help_en, "zh-CN": row.help_zh},
        required=row.required,
        unique=row.unique,
        filterable=row.filterable,
        encrypted=row.encrypted,
        blind_index=row.blind_index,
        default=json.loads(row.default_json) if row.default_json is not None else None,
        has_default=row.default_json is not None,
        min=Decimal(row.min_value) if row.min_value is not None else None,
        max=Decimal(row.max_value) if row.max_value is not None else None,
        min_length=row.min_length,
        max_length=row.max_length,
        regex=row.regex,
        choices=tuple(choices),
        reference=row.reference,
        position=row.position,
        source=row.source,
        id=row.id,
    )


# --- cache ---------------------------------------------------------------------------------------

_lock = threading.Lock()
_cache: dict[tuple, dict] = {}  # (db key, version) -> {"fields": {entity: [FieldDef]}, "schemas": {}}
#: the request stamp of ``metadata_state.version``
VERSION_STAMP = "metadata_version"
stamps.register(
    VERSION_STAMP, lambda: MetadataState.select(MetadataState.version).where(MetadataState.id == 1)
)


def _db_key() -> tuple:
    db = database.obj
    return (type(db).__name__, getattr(db, "database", None), id(db))


def current_version() -> int:
    """The definitions' version in the bound database (read once per request: a request stamp,
    :mod:`crm_core.stamps`, which an API call reads with its bearer token)."""
    version = stamps.value(VERSION_STAMP)
    return version if version is not None else 0


def bump_version() -> None:
    """Mark every cache stale: call inside the transaction that changes a definition.

    The new version is random rather than +1: a cache filled inside a transaction that then rolls
    back must never match a later, committed version.
    """
    version = secrets.randbelow(2**31 - 2) + 1
    updated = MetadataState.update(version=version).where(MetadataState.id == 1).execute()
    if not updated:
        MetadataState.insert(id=1, version=version).execute()
    stamps.forget(VERSION_STAMP)


def cache_entry() -> dict:
    """The cache slot of the bound database at its current version (loaded on first use)."""
    key = (_db_key(), current_version())
    entry = _cache.get(key)
    if entry is not None:
        return entry
    fields: dict[str, list[FieldDef]] = {}
    query = FieldDefinition.select().where(FieldDefinition.deleted_at.is_null())
    for row in query.order_by(FieldDefinition.entity, FieldDefinition.position, FieldDefinition.name):
        fields.setdefault(row.entity, []).append(fielddef_from_row(row))
    types = {
        row.name: {
            "id": row.id,
            "name": row.name,
            "label": {"en": row.label_en, "zh-CN": row.label_zh},
            "description": row.description,
            "source": row.source,
        }
        for row in ObjectType.select().order_by(ObjectType.name)
    }
    entry = {"fields": fields, "types": types, "schemas": {}}
    with _lock:
        # drop stale versions of this database; other databases (tests) keep theirs
        for old in [k for k in _cache if k[0] == key[0]]:
            del _cache[old]
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = entry
    return entry


def custom_fields(entity: str) -> list[FieldDef]:
    """The live (not deleted) custom fields of ``entity``, ordered by position then name."""
    return list(cache_entry()["fields"].get(entity, ()))


def get_field(entity: str, name: str) -> FieldDef | None:
    """One live custom field of ``entity`` by name, or None."""
    for fd in cache_entry()["fields"].get(entity, ()):
        if fd.name == name:
            return fd
    return None
