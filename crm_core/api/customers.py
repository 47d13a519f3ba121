"""Customers and tags: CRUD, bulk tag and assign, uniqueness of phone and e-mail, tag links, and the
customer timeline."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from ..auth import current_actor
from ..conversations import customer_timeline
from ..entities import customers, tags
from ..entities.models import (
    Activity,
    Customer,
    Tag,
)
from ..entities.schemas import CustomerSchema, TagSchema, TimelineItemSchema
from ..errors import APIError
from ..records import listing
from . import API_PREFIX, Blueprint
from .bulk_update import register_bulk_update
from .crud import register_crud
from .responses import json_response

blp = Blueprint(
    "customers", __name__, url_prefix=API_PREFIX, description="Customers: people the business serves"
)
tags_blp = Blueprint("tags", __name__, url_prefix=API_PREFIX, description="Tags on customers")

crud = register_crud(
    blp,
    "customers",
    Customer,
    CustomerSchema,
    search_fields=customers.search_fields,
    extra_filters=customers.EXTRA_FILTERS,
    prefetch=customers.prefetch_tags,
    **customers.WRITE_OPTIONS,
)
# POST /customers/bulk-update: tag, untag and assign many customers in one batch
register_bulk_update(crud)


tags_crud = register_crud(
    tags_blp,
    "tags",
    Tag,
    TagSchema,
    default_sort="name",
    before_save=tags.tag_unique,
    before_delete=tags.delete_tag_links,
)


@blp.route("/customers/<int:record_id>/timeline")
class CustomerTimeline(MethodView):
    @blp.response(200, TimelineItemSchema(many=True))
    @blp.doc(
        parameters=[
            {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
            {"in": "query", "name": "before", "schema": {"type": "string", "format": "date-time"}},
        ]
    )
    def get(self, record_id):
        """Everything that happened to a customer, newest first: activities, deals and their stage
        changes, tickets and their transitions, and conversations (for those who may read them:
        a line each, no content). Page back with ``before=<at of the last item>``."""
        actor = current_actor()
        customer = crud.get(record_id, actor)
        try:
            limit = int(request.args.get("limit", 50))
            if not 1 <= limit <= listing.MAX_PAGE_SIZE:
                raise ValueError
        except ValueError:
            raise APIError(
                400, "Invalid query parameter 'limit'.", errors={"limit": ["Must be 1 to 200."]}
            ) from None
        before = None
        if request.args.get("before"):
            try:
                before = listing.coerce_column(Activity.created_at, request.args["before"])
            except ValueError:
                raise APIError(
                    400, "Invalid query parameter 'before'.", errors={"before": ["Not a date-time."]}
                ) from None
        return json_response(
            TimelineItemSchema(many=True).dump(customer_timeline(customer, actor, limit, before))
        )
