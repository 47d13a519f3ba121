"""Segments: saved filters over customers (the list API's query parameters), evaluated and counted
in SQL within the caller's row scope."""

from __future__ import annotations

import json

from flask import request
from flask.views import MethodView
from werkzeug.datastructures import MultiDict

from ..auth import current_actor
from ..entities import customers as customer_records
from ..entities.models import Customer, Segment
from ..entities.refs import writer
from ..entities.schemas import CountSchema, CustomerSchema, SegmentSchema
from ..errors import APIError
from ..records import listing
from . import API_PREFIX, Blueprint, customers
from .crud import register_crud
from .paging import PAGINATION_HEADER_DOC, pagination_headers
from .responses import json_response

blp = Blueprint("segments", __name__, url_prefix=API_PREFIX, description="Saved customer filters")

#: Parameters a segment may not store: paging and sorting belong to the caller.
NOT_FILTERS = ("page", "page_size", "sort")


def filter_args(filters: dict) -> MultiDict:
    """A segment's ``filters`` dict as list-API query arguments (lists become repeated values)."""
    args = MultiDict()
    for key, value in filters.items():
        for item in value if isinstance(value, list) else [value]:
            args.add(
                key,
                ""
                if item is None
                else (
                    json.dumps(item)
                    if isinstance(item, dict)
                    else str(item).lower()
                    if isinstance(item, bool)
                    else str(item)
                ),
            )
    return args


def customers_query(segment: Segment, actor, extra_args=None, paginate=True):
    """The segment's customers within the actor's scope: ``(query, total)`` like ``list_query``.
    ``extra_args`` (the request's) adds paging, sorting and further filters."""
    args = filter_args(segment.filters or {})
    for key, values in (extra_args or MultiDict()).lists():
        for value in values:
            args.add(key, value)
    return listing.list_query(
        Customer,
        "customers",
        args,
        actor,
        search_fields=customer_records.search_fields(),
        extra_filters=customer_records.EXTRA_FILTERS,
        paginate=paginate,
    )


def check_filters(record: Segment, data: dict, before) -> None:
    """The filters must be ones the customer list understands (422 naming the bad one)."""
    filters = record.filters or {}
    bad = [k for k in filters if k in NOT_FILTERS]
    if bad:
        raise APIError(
            422, "Segments store filters only.", errors={"filters": [f"Not a filter: {', '.join(bad)}."]}
        )
    for key, value in filters.items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, dict | list) for v in values):
            raise APIError(
                422,
                "Filter values are scalars or lists of scalars.",
                errors={"filters": [f"Bad value for {key!r}."]},
            )

    actor = writer()
    if actor is None:
        return
    try:
        query, _ = customers_query(record, actor, paginate=False)
        query.limit(1).exists()
    except APIError as exc:
        if exc.code != 400:
            raise
        raise APIError(422, "Invalid segment filters.", errors={"filters": [exc.message]}) from None


crud = register_crud(
    blp,
    "segments",
    Segment,
    SegmentSchema,
    search_fields=lambda: [Segment.name, Segment.description],
    before_save=check_filters,
)


@blp.route("/segments/<int:record_id>/customers")
class SegmentCustomers(MethodView):
    @blp.response(200, CustomerSchema(many=True), headers=PAGINATION_HEADER_DOC)
    def get(self, record_id):
        """The segment's customers, a page at a time (same paging, sorting and filters as the list)."""
        actor = current_actor()
        segment = crud.get(record_id, actor)
        page, page_size = listing.page_params(request.args)
        rows, total = customers_query(segment, actor, request.args)
        data = customers.crud.dump(list(rows), actor)
        return json_response(data, 200, pagination_headers(total, page, page_size))


@blp.route("/segments/<int:record_id>/count")
class SegmentCount(MethodView):
    @blp.response(200, CountSchema)
    def get(self, record_id):
        """How many customers (that you may read) the segment holds now."""
        actor = current_actor()
        segment = crud.get(record_id, actor)
        query, _ = customers_query(segment, actor, paginate=False)
        return json_response({"count": query.order_by().count()})
