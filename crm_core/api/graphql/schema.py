"""The GraphQL schema of one reader, built from the metadata the REST API serves.

Which collections there are is what the app mounts (``records.collections``: core, plugin and
third-party ``register_crud`` collections) plus every custom object type; which of them a reader
gets, and which of their fields, is decided by ``permissions.view`` alone:

- a collection the reader may not read is not in their schema;
- a field hidden from them (``hidden`` field rule, a column or a custom field) is not in it
  either, so asking for it fails validation ("Cannot query field ...") exactly where REST leaves
  it out of the JSON; introspection does not show it;
- a masked field is typed ``String``, since what it shows is the partly hidden text REST sends.

Field types follow the marshmallow dump schema of the collection (``Int64`` for integers, since
ids and amounts outgrow GraphQL's 32-bit ``Int``; ``Boolean``, ``Float``; ``String`` for text,
dates and decimals, which REST sends as strings; ``JSON`` for anything nested) and the custom
field definitions (``custom`` is an object type of the collection's custom fields). Schemas are
cached per metadata version and per (collection, hidden, masked) signature, so readers with the
same field rules share one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, NewType

import strawberry
from flask import current_app, g, has_request_context
from marshmallow import fields as ma
from strawberry.extensions import DisableValidation
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import create_type

from ... import permissions
from ...custom import objects
from ...custom.extensible import OBJECTS_PREFIX
from ...custom.fielddefs import cache_entry, custom_fields
from ...records.collections import collections

Int64 = NewType("Int64", int)

#: schemas kept per metadata version (one per distinct set of readable collections and rules)
MAX_SCHEMAS = 64
_GRAPHQL_NAME = re.compile(r"[^0-9A-Za-z_]")
_INT64 = (-(2**63), 2**63 - 1)
_TEXT_CUSTOM = ("string", "text", "choice", "email", "phone", "url", "date", "datetime")


def _int64(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(f"Int64 cannot represent {value!r}.")
    return value


_INT64_SCALAR = strawberry.scalar(
    name="Int64",
    description="A 64-bit integer (ids, counts), sent as a JSON number.",
    serialize=_int64,
    parse_value=_int64,
)


@strawberry.enum(description="How a filter compares: the REST list's ``<field>__<op>`` operators.")
class Op(Enum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    CONTAINS = "contains"


@strawberry.input(description="One list filter, as the REST query parameter ``<field>__<op>=<value>``.")
class Filter:
    field: str
    value: str
    op: Op = Op.EQ


@dataclass(frozen=True)
class Source:
    """One collection GraphQL serves: the REST ``Crud`` whose dump and list options it uses."""

    resource: str
    crud: Any
    name: str  # the query field of its list; ``<name>_by_id`` reads one record


def graphql_name(resource: str) -> str:
    """The query field of a collection: its resource with every other character as ``_``."""
    name = _GRAPHQL_NAME.sub("_", resource)
    return name if not name[:1].isdigit() else f"_{name}"


def type_prefix(name: str) -> str:
    """``loyalty_members`` -> ``LoyaltyMembers``: the prefix of a collection's type names."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Collection"


def sources() -> dict[str, Source]:
    """Every collection of the current app by resource: mounted ones, then custom object types
    (found once per request)."""
    # a function-level import: api.metadata imports the API package, which imports this one
    from ..metadata import object_crud

    cached = g.get("crm_graphql_sources") if has_request_context() else None
    if cached is not None:
        return cached
    found = {resource: crud for resource, crud in collections().items()}
    for type_name in objects.type_names():
        found.setdefault(OBJECTS_PREFIX + type_name, object_crud(type_name))
    out, names = {}, set()
    for resource in sorted(found):
        name = graphql_name(resource)
        if name in names or name.endswith("_by_id"):
            continue  # two resources spelling one name: the first keeps it
        names.add(name)
        out[resource] = Source(resource, found[resource], name)
    if has_request_context():
        g.crm_graphql_sources = out
    return out


def _scalar(field: ma.Field):
    if isinstance(field, ma.Boolean):
        return bool
    if isinstance(field, ma.Integer):
        return Int64
    if isinstance(field, ma.Float):
        return float
    if isinstance(field, ma.String | ma.DateTime | ma.Date | ma.Time | ma.Decimal | ma.UUID | ma.Enum):
        return str
    return JSON


def _custom_scalar(definition):
    if definition.type in _TEXT_CUSTOM:
        return str
    if definition.type == "bool":
        return bool
    return JSON  # int, decimal, multi-choice, reference: sent as REST stores them


def _value(root, name: str):
    """The default resolver: records are the REST JSON, so a field is the key of its name."""
    return root.get(name) if isinstance(root, dict) else getattr(root, name, None)


def _field(key: str, graphql_type, description: str | None = None):
    # no resolver of its own: graphql-core then calls the schema's default resolver (_value)
    # directly, several times cheaper per value than a strawberry resolver
    field = strawberry.field(name=key, graphql_type=graphql_type | None, description=description)
    field.python_name = key
    return field


def _custom_type(prefix: str, resource: str, view) -> Any:
    definitions = [d for d in custom_fields(resource) if d.name not in view.hidden]
    if not definitions:
        return JSON
    members = [
        _field(d.name, str if d.name in view.masked else _custom_scalar(d), d.label.get("en"))
        for d in definitions
    ]
    return create_type(f"{prefix}Custom", members, description=f"Custom fields of {resource}.")


def record_type(source: Source, view) -> Any:
    """The object type of one record of ``source`` as ``view``'s reader sees it."""
    prefix = type_prefix(source.name)
    members = []
    for attribute, field in source.crud.schema.fields.items():
        key = field.data_key or attribute
        if field.load_only or {attribute, key} & view.hidden:
            continue
        if key == "custom":
            graphql_type = _custom_type(prefix, source.resource, view)
        elif {attribute, key} & view.masked:
            graphql_type = str
        else:
            graphql_type = _scalar(field)
        members.append(_field(key, graphql_type))
    return create_type(f"{prefix}Record", members, description=f"A record of {source.resource}.")


def page_type(source: Source, record) -> Any:
    """The type of one page of a list: the ``X-Pagination`` numbers and the records."""
    prefix = type_prefix(source.name)
    members = [
        _field("total", Int64, "Records matching the filters (within your scope)."),
        _field("page", Int64),
        _field("page_size", Int64),
        _field("total_pages", Int64),
        _field("items", list[record]),
    ]
    return create_type(f"{prefix}Page", members)


class _Schema(strawberry.Schema):
    """A schema that leaves error logging to the endpoint, which logs only the unexpected ones
    (a record out of scope is an answer, not a server problem)."""

    def process_errors(self, errors, execution_context=None) -> None:
        return None


def signature(actor, found: dict[str, Source]) -> tuple:
    """What the reader's schema depends on: each readable collection with its hidden and masked
    fields (the metadata version keys the cache this lives in)."""
    parts = []
    for resource in found:
        view = permissions.view(actor, resource, "read")
        if view.allowed:
            parts.append((resource, view.hidden, view.masked))
    return tuple(parts)


def schema_for(actor, resolvers) -> strawberry.Schema:
    """The reader's schema (cached per metadata version and field-rule signature).

    ``resolvers`` builds the query fields: ``resolvers(source, record, page) -> [fields]``."""
    found = sources()
    sign = signature(actor, found)
    cache = cache_entry()["schemas"]
    key = ("graphql", id(current_app.extensions["crm"]), sign)
    schema = cache.get(key)
    if schema is None:
        schema = build(actor, found, sign, resolvers)
        built = [k for k in cache if isinstance(k, tuple) and k[:1] == ("graphql",)]
        if len(built) >= MAX_SCHEMAS:  # readers with ever new field-rule sets: start over
            for old in built:
                cache.pop(old, None)
        cache[key] = schema
    return schema


def _nothing() -> list[str]:
    return []


def build(actor, found: dict[str, Source], sign: tuple, resolvers) -> strawberry.Schema:
    """A new schema with one list and one ``_by_id`` field per readable collection."""
    members = []
    for resource, _hidden, _masked in sign:
        source = found[resource]
        record = record_type(source, permissions.view(actor, resource, "read"))
        members += resolvers(source, record, page_type(source, record))
    if not members:  # GraphQL needs one query field; a reader of nothing gets an empty list
        members = [strawberry.field(name="collections", graphql_type=list[str], resolver=_nothing)]
    query = create_type("Query", members, description="Read-only: the collections you may read.")
    config = StrawberryConfig(
        auto_camel_case=False, scalar_map={Int64: _INT64_SCALAR}, default_resolver=_value
    )
    # the endpoint validates the document itself before the limits (validating twice costs more
    # than the rest of a small query)
    return _Schema(query=query, types=[Filter], config=config, extensions=[DisableValidation])
