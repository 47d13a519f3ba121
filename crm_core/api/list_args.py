"""The query arguments of a collection's list as a marshmallow schema, so OpenAPI shows them all.

:func:`list_args_schema` builds one schema per collection from its model's columns: one equality
filter per column a caller may filter on (typed like the column; its ``__gte``, ``__gt``, ``__lte``,
``__lt``, ``__ne``, ``__in``, ``__contains`` variants are described on it), the collection's extra
named filters (``tag`` on customers), ``sort`` (a comma-separated list of the sortable fields,
``-`` for descending, as an enum), ``q``, ``after`` (a keyset cursor), ``page`` and ``page_size``. Custom fields are defined at
run time, so they are described generically (they filter and sort by their plain name).

The schema documents; :func:`crm_core.records.listing.list_query` stays the one grammar that
parses the same query string (400 naming the parameter for an unknown field or a bad value).
Per caller, hidden fields are refused by ``list_query`` even though the document lists them.
"""

from __future__ import annotations

from collections.abc import Iterable

import peewee as pw
from marshmallow import Schema, fields, validate
from webargs.fields import DelimitedList

from ..records import listing

_OPERATORS = ", ".join(f"``__{op}``" for op in listing.OPERATORS)

#: peewee column class -> marshmallow field class (the first match in this order wins)
_FIELD_TYPES = (
    (pw.BooleanField, fields.Boolean),
    (pw.AutoField, fields.Integer),
    (pw.IntegerField, fields.Integer),
    (pw.DecimalField, fields.Decimal),
    (pw.FloatField, fields.Float),
    (pw.DateTimeField, fields.DateTime),
    (pw.DateField, fields.Date),
)

AFTER_DESCRIPTION = (
    "Keyset paging: the opaque cursor X-Pagination.next_after gave, for the page after that one "
    "(instead of page; same sort and filters). As fast deep in the list as on its first page. "
    "An altered cursor, or one from another sort, answers 400."
)

GENERIC_DESCRIPTION = (
    "Filters: ``<field>=v`` (repeat for any of), ``<field>__gte|gt|lte|lt|ne=v``, "
    "``<field>__in=a,b``, ``<field>__contains=text``; ``<field>`` is a column listed below or a "
    "custom field by its plain name (``credit_score__gte=500``). Fields hidden from you are refused (400)."
)


def _column_field(column: pw.Field) -> fields.Field:
    target = column.rel_field if isinstance(column, pw.ForeignKeyField) else column
    cls = next((f for c, f in _FIELD_TYPES if isinstance(target, c)), fields.String)
    description = f"Equal to (repeat for any of); also {_OPERATORS}."
    options = {}
    if getattr(column, "choices", None):
        options["validate"] = validate.OneOf([choice[0] for choice in column.choices])
    return cls(metadata={"description": description}, **options)


def _columns(model, resource: str, filter_fields: Iterable[str] | None) -> dict[str, pw.Field]:
    """The filterable columns by API name (a reference by its column name: ``owner_id``)."""
    known = listing.Fields(model, resource, filter_fields).columns
    out = {}
    for name, column in known.items():
        is_reference_name = (
            isinstance(column, pw.ForeignKeyField) and name == column.name != column.column_name
        )
        if is_reference_name and column.column_name in known:
            continue  # documented once, as owner_id
        out[name] = column
    return out


def list_args_schema(
    model: type[pw.Model],
    resource: str,
    *,
    filter_fields: Iterable[str] | None = None,
    extra_filters: Iterable[str] = (),
    name: str | None = None,
) -> type[Schema]:
    """A marshmallow schema (class) of the list arguments of ``resource`` (see the module)."""
    columns = _columns(model, resource, filter_fields)
    attrs: dict[str, fields.Field] = {key: _column_field(column) for key, column in columns.items()}
    for extra in extra_filters:
        attrs[extra] = fields.String(
            metadata={"description": "A named filter of this collection (repeat for any of)."}
        )
    sortable = sorted(columns)
    attrs["sort"] = DelimitedList(
        fields.String(validate=validate.OneOf(sortable + [f"-{key}" for key in sortable])),
        metadata={
            "description": "Comma-separated fields, '-' for descending ('-created_at,name'); "
            "custom fields sort by their plain name too."
        },
    )
    attrs["q"] = fields.String(metadata={"description": "Search the text fields."})
    attrs["after"] = fields.String(metadata={"description": AFTER_DESCRIPTION})
    attrs["page"] = fields.Integer(load_default=1, validate=validate.Range(min=1))
    attrs["page_size"] = fields.Integer(
        load_default=listing.DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=listing.MAX_PAGE_SIZE)
    )
    class_name = (name or resource).replace(".", "_").title().replace("_", "") + "ListArgsSchema"
    return type(class_name, (Schema,), attrs)


class BaseListArgsSchema(Schema):
    """The list arguments every collection has; for collections whose fields are defined at run
    time (custom object types), whose filters are documented generically."""

    sort = fields.String(
        metadata={"description": "Comma-separated fields, '-' for descending: '-created_at,name'."}
    )
    q = fields.String(metadata={"description": "Search the text fields."})
    after = fields.String(metadata={"description": AFTER_DESCRIPTION})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(
        load_default=listing.DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=listing.MAX_PAGE_SIZE)
    )


def list_parameters(schema: type[Schema]) -> list[dict]:
    """``@blp.doc(parameters=...)`` documenting ``schema`` as query parameters (apispec expands
    it field by field) without flask-smorest parsing them: ``list_query`` does."""
    return [{"in": "query", "schema": schema}]
