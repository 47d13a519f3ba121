"""``/api/v1/events``: the outbox as admins see it (what happened, what is stuck), and retry.

Each event's ``data`` is shown as the reader may see it (``permissions.event_data``), so an
``events:read`` grant never reveals fields or records the reader's other grants do not."""

from __future__ import annotations

import copy

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from .. import permissions
from ..auth import current_actor
from ..entities.schemas import UTCDateTime
from ..errors import APIError
from ..events.dispatcher import retry_event
from ..events.models import OutboxEvent
from . import API_PREFIX, Blueprint

blp = Blueprint("events", __name__, url_prefix=f"{API_PREFIX}/events", description="Domain events (outbox)")


def visible(rows, actor) -> list:
    """Copies of outbox ``rows`` whose ``data`` is what ``actor`` may see of it
    (``permissions.event_data``): an event the actor may not read keeps only its id keys, so the
    page and its count stay those of the outbox."""

    memo: dict = {}
    out = []
    for row in rows:
        shown = copy.copy(row)
        data = permissions.event_data(actor, row, memo)
        shown.data = data if data is not None else permissions.closed(row.data)
        out.append(shown)
    return out


def require_events(action: str = "read"):
    """403 unless the caller holds ``events:<action>``. The outbox crosses every permission
    boundary (it holds every record's data), so only the admin role has it by default."""

    actor = current_actor()
    permissions.require(actor, "events", action)
    return actor


class EventSchema(Schema):
    id = fields.Integer()
    uid = fields.String()
    type = fields.String()
    version = fields.Integer()
    data = fields.Dict()
    resource = fields.String(allow_none=True)
    record_id = fields.String(allow_none=True)
    customer_id = fields.Integer(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    causation_id = fields.Integer(allow_none=True)
    depth = fields.Integer()
    meta = fields.Dict()
    occurred_at = UTCDateTime()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = UTCDateTime()
    dispatched_at = UTCDateTime(allow_none=True)
    last_error = fields.String(allow_none=True)


class ConsumerSchema(Schema):
    consumer = fields.String(metadata={"description": "the plugin whose crm_event hook consumed it"})
    status = fields.String(metadata={"description": "done or failed"})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    updated_at = UTCDateTime()


class EventDetailSchema(EventSchema):
    consumers = fields.List(
        fields.Nested(ConsumerSchema),
        metadata={"description": "per-consumer progress, recorded once some consumer failed"},
    )


class EventQuerySchema(Schema):
    type = fields.String(validate=validate.Length(max=150))
    status = fields.String(validate=validate.OneOf(["pending", "done", "dead"]))
    customer_id = fields.Integer()


@blp.route("")
class Events(MethodView):
    @blp.arguments(EventQuerySchema, location="query")
    @blp.response(200, EventSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """List events, newest first (``events:read``, admins). Filter by ``type``, ``status``,
        ``customer_id``."""
        actor = require_events("read")
        query = OutboxEvent.select().order_by(OutboxEvent.id.desc())
        if "type" in args:
            query = query.where(OutboxEvent.type == args["type"])
        if "status" in args:
            query = query.where(OutboxEvent.status == args["status"])
        if "customer_id" in args:
            query = query.where(OutboxEvent.customer_id == args["customer_id"])
        pagination_parameters.item_count = query.count()
        return visible(query.paginate(pagination_parameters.page, pagination_parameters.page_size), actor)


@blp.route("/<int:event_id>")
class EventDetail(MethodView):
    @blp.response(200, EventDetailSchema)
    def get(self, event_id):
        """One event with each consumer's progress (``events:read``, admins)."""
        actor = require_events("read")
        row = OutboxEvent.get_or_none(OutboxEvent.id == event_id)
        if row is None:
            raise APIError(404, f"No event {event_id}.")
        return visible([row], actor)[0]  # ``consumers`` is the backref to the per-consumer progress rows


@blp.route("/<int:event_id>/retry")
class EventRetry(MethodView):
    @blp.response(200, EventSchema)
    def post(self, event_id):
        """Queue a dead or failing event again (``events:retry``, admins); consumers already done
        are skipped."""
        require_events("retry")
        row = retry_event(event_id)
        if row is None:
            raise APIError(404, f"No event {event_id}.")
        return row
