"""The answers of the query fields: the REST list and detail of the collection, step for step.

A list field builds the REST query string from its arguments and runs the very list the REST
endpoint runs (``listing.list_query`` with the collection's own list options: the row scope,
filters, search and sort of ``permissions.view``), then dumps the page with the collection's
``Crud.dump`` (hidden fields left out, encrypted values opened only for fields the reader may
see, masked ones shown partly, and the collection's ``prefetch`` step, where plugins audit their
reads). ``<name>_by_id`` reads through ``Crud.get`` (``permissions.get_record``: out of scope is
"not found", and single reads of sensitive resources are audited). Values go through the JSON
encoding REST answers with, so both give the same values.
"""

from __future__ import annotations

import json

import strawberry
from flask_babel import gettext as _
from graphql import GraphQLError
from werkzeug.datastructures import MultiDict

from ...auth import current_actor
from ...errors import APIError, localise
from ...records import listing
from .schema import Filter, Int64, Op, Source


def jsonable(data):
    """``data`` as the REST API's JSON carries it (decimals and dates as strings)."""
    return json.loads(json.dumps(data, ensure_ascii=False, default=str))


def error_of(exc: APIError) -> GraphQLError:
    """The GraphQL error of an API error: its message, its status as ``extensions.code`` and its
    per-field messages as ``extensions.errors``, in the reader's language as REST gives them."""
    body = localise({"message": exc.message, "errors": exc.data.get("errors") or {}})
    return GraphQLError(body["message"], extensions={"code": exc.code, "errors": body.get("errors") or {}})


def _bad_filter(field: str, message: str) -> APIError:
    # as the REST list does: a NUL character is never echoed back (JSON readers refuse it)
    name = field.replace("\x00", "")
    return APIError(
        400,
        _("Invalid filter %(field)s: %(message)s", field=repr(name), message=message),
        errors={name: [message]},
    )


def list_args(page, page_size, sort, q, filters) -> MultiDict:
    """The REST list's query string for these arguments (``listing.list_query`` parses it)."""
    args = MultiDict()
    for item in filters or ():
        if item.field in listing.RESERVED or "__" in item.field or "\x00" in item.field:
            raise _bad_filter(item.field, _("Unknown field."))
        key = item.field if item.op is Op.EQ else f"{item.field}__{item.op.value}"
        args.add(key, item.value)
    for name, value in (("page", page), ("page_size", page_size), ("sort", sort), ("q", q)):
        if value is not None:
            args[name] = str(value)
    return args


def _selects(selections, name: str) -> bool:
    for selection in selections:
        if getattr(selection, "name", None) == name:
            return True
        if _selects(getattr(selection, "selections", None) or (), name):  # fragments
            return True
    return False


def page_of(source: Source, args: MultiDict, with_items: bool = True) -> dict:
    """One page of ``source`` for the current reader, as the REST list would answer it.
    ``with_items=False`` (only the counts asked for): the rows are not read nor dumped."""
    actor = current_actor()
    crud = source.crud
    rows, total = listing.list_query(crud.model, crud.resource, args, actor, **crud.list_options())
    data = crud.dump(list(rows), actor) if with_items else []
    page, page_size = listing.page_params(args)
    meta = listing.pagination_header(total, page, page_size)
    return {
        "total": total,
        "page": page,
        "page_size": page_size,
        "total_pages": meta["total_pages"],
        "items": jsonable(data),
    }


def record_of(source: Source, record_id: int) -> dict:
    """One record of ``source`` as the REST detail would answer it."""
    actor = current_actor()
    return jsonable(source.crud.dump(source.crud.get(record_id, actor), actor))


def resolvers(source: Source, record, page) -> list:
    """The two query fields of ``source``: ``<name>`` (a page) and ``<name>_by_id`` (one record)."""

    def list_field(
        page: int | None = None,
        page_size: int | None = None,
        sort: str | None = None,
        q: str | None = None,
        filter: list[Filter] | None = None,
        info: strawberry.Info = None,
    ) -> None:  # the GraphQL type is given with the field
        with_items = info is None or _selects(info.selected_fields, "items")
        try:
            return page_of(source, list_args(page, page_size, sort, q, filter), with_items)
        except APIError as exc:
            raise error_of(exc) from None

    def detail_field(id: Int64) -> None:
        try:
            return record_of(source, id)
        except APIError as exc:
            raise error_of(exc) from None

    list_field.__name__, detail_field.__name__ = source.name, f"{source.name}_by_id"
    return [
        strawberry.field(
            name=source.name,
            graphql_type=page,
            resolver=list_field,
            description=f"A page of {source.resource}, filtered and sorted as the REST list "
            f"(page_size up to {listing.MAX_PAGE_SIZE}).",
        ),
        strawberry.field(
            name=f"{source.name}_by_id",
            graphql_type=record | None,
            resolver=detail_field,
            description=f"One record of {source.resource}; null (with a 404 error) outside your scope.",
        ),
    ]
