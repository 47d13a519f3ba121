"""``/api/v1/webhooks``: subscriptions (CRUD through the core write path), their delivery log with
every attempt, manual redelivery, the signing secret, and inbound endpoints."""

from __future__ import annotations

import re

from flask import current_app, request
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates

from ..audit import record_event
from ..auth import current_actor, public
from ..db import database
from ..entities.schemas import BlankText, RecordSchema, UTCDateTime
from ..errors import APIError
from ..records import service
from ..records.service import record_dict
from ..webhooks import outbound
from ..webhooks.inbound import receive
from ..webhooks.models import ACTIVE, FAILING, WebhookAttempt, WebhookDelivery, WebhookSubscription
from ..webhooks.signing import SECRET_RE, generate_secret
from ..webhooks.urls import UnsafeURL, check_url
from . import API_PREFIX, Blueprint
from .crud import register_crud
from .responses import json_response

RESOURCE = "webhooks"
PATTERN_RE = re.compile(r"^(\*|[a-z0-9_*]+(\.[a-z0-9_*]+)*)$")

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix=API_PREFIX,
    description="Webhook subscriptions (Standard Webhooks signatures), delivery log, inbound webhooks",
)


class WebhookSchema(RecordSchema):
    url = fields.Url(
        required=True, schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2000)
    )
    description = BlankText(validate=validate.Length(max=500))
    events = fields.List(
        fields.String(
            validate=validate.Regexp(PATTERN_RE, error="Use event types with * wildcards: customer.*")
        ),
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Event type patterns: customer.created, customer.*, *.deleted, *"},
    )
    secret = fields.String(
        load_only=True,
        validate=validate.Regexp(
            SECRET_RE, error="A Standard Webhooks secret: whsec_ + base64 (>= 16 bytes)."
        ),
        metadata={"description": "Generated when omitted; read it at /webhooks/<id>/secret."},
    )
    secret_hint = fields.Method("hint", dump_only=True)
    active = fields.Boolean()
    status = fields.String(
        validate=validate.OneOf([ACTIVE]),
        metadata={"description": "'failing' after a delivery exhausted its retries; set 'active' to resume."},
    )
    consecutive_failures = fields.Integer(dump_only=True)
    failing_since = UTCDateTime(dump_only=True, allow_none=True)
    last_success_at = UTCDateTime(dump_only=True, allow_none=True)
    last_failure_at = UTCDateTime(dump_only=True, allow_none=True)

    def hint(self, obj):
        return (obj.secret[:10] + "...") if getattr(obj, "secret", None) else None

    @validates("url")
    def _safe_url(self, value, **kwargs):
        try:
            check_url(value, allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE_URLS"])
        except UnsafeURL as exc:
            raise ValidationError(str(exc)) from None


def serialize(record: WebhookSubscription) -> dict:
    """Audit and event image of a subscription: never the secret."""
    data = record_dict(record)
    data.pop("secret", None)
    return data


def before_save(record: WebhookSubscription, data: dict, before) -> None:
    if not record.secret:
        record.secret = generate_secret()
    record.events = sorted(set(record.events or []))


def after_save(record: WebhookSubscription, data: dict, before) -> None:
    if before is not None and before.get("status") == FAILING and record.status == ACTIVE:
        # the owner says the receiver is fixed: send what was held meanwhile
        record.failing_since = None
        record.consecutive_failures = 0
        WebhookSubscription.update(failing_since=None, consecutive_failures=0).where(
            WebhookSubscription.id == record.id
        ).execute()
        outbound.release_held(record)


crud = register_crud(
    blp,
    RESOURCE,
    WebhookSubscription,
    WebhookSchema,
    path="/webhooks",
    before_save=before_save,
    after_save=after_save,
    serialize=serialize,
    filter_fields=["url", "active", "status", "owner_id", "created_at"],
    description="webhook subscriptions",
)


class AttemptSchema(Schema):
    number = fields.Integer()
    started_at = UTCDateTime()
    duration_ms = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    response_body = fields.String(allow_none=True)
    succeeded = fields.Boolean()


class DeliverySchema(Schema):
    id = fields.Integer()
    subscription_id = fields.Integer(attribute="subscription_id")
    message_id = fields.String(metadata={"description": "sent as webhook-id (the event id)"})
    event_type = fields.String()
    status = fields.String(metadata={"description": "pending, sending, retrying, succeeded, failed, held"})
    attempts = fields.Integer()
    next_attempt_at = UTCDateTime()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    delivered_at = UTCDateTime(allow_none=True)
    redelivery_of = fields.Integer(allow_none=True)
    created_at = UTCDateTime()
    payload = fields.String()
    attempt_log = fields.List(fields.Nested(AttemptSchema))


class DeliveryQuerySchema(Schema):
    status = fields.String(
        validate=validate.OneOf(["pending", "sending", "retrying", "succeeded", "failed", "held"])
    )
    event_type = fields.String(validate=validate.Length(max=150))


def _with_attempts(rows: list[WebhookDelivery]) -> list[WebhookDelivery]:
    """The deliveries with their attempts attached (one query for the page)."""
    attempts: dict[int, list] = {r.id: [] for r in rows}
    if rows:
        for a in (
            WebhookAttempt.select()
            .where(WebhookAttempt.delivery.in_(list(attempts)))
            .order_by(WebhookAttempt.delivery, WebhookAttempt.number)
        ):
            attempts[a.delivery_id].append(a)
    for row in rows:
        row.attempt_log = attempts[row.id]
    return rows


@blp.route("/webhooks/<int:record_id>/deliveries")
class Deliveries(MethodView):
    @blp.arguments(DeliveryQuerySchema, location="query")
    @blp.response(200, DeliverySchema(many=True))
    @blp.paginate()
    def get(self, args, record_id, pagination_parameters):
        """Deliveries of this subscription, newest first, each with every attempt."""
        sub = crud.get(record_id, current_actor())
        query = (
            WebhookDelivery.select()
            .where(WebhookDelivery.subscription == sub)
            .order_by(WebhookDelivery.id.desc())
        )
        if "status" in args:
            query = query.where(WebhookDelivery.status == args["status"])
        if "event_type" in args:
            query = query.where(WebhookDelivery.event_type == args["event_type"])
        pagination_parameters.item_count = query.count()
        return _with_attempts(
            list(query.paginate(pagination_parameters.page, pagination_parameters.page_size))
        )


def _delivery(sub, delivery_id) -> WebhookDelivery:
    row = WebhookDelivery.get_or_none(WebhookDelivery.id == delivery_id, WebhookDelivery.subscription == sub)
    if row is None:
        raise APIError(404, f"No delivery {delivery_id} for webhook {sub.id}.")
    return row


@blp.route("/webhooks/<int:record_id>/deliveries/<int:delivery_id>")
class DeliveryDetail(MethodView):
    @blp.response(200, DeliverySchema)
    def get(self, record_id, delivery_id):
        """One delivery with its body and every attempt."""
        sub = crud.get(record_id, current_actor())
        return _with_attempts([_delivery(sub, delivery_id)])[0]


@blp.route("/webhooks/<int:record_id>/deliveries/<int:delivery_id>/redeliver")
class Redeliver(MethodView):
    @blp.response(202, DeliverySchema)
    def post(self, record_id, delivery_id):
        """Send this delivery again (same body and ``webhook-id``) as a new delivery, due now."""
        sub = crud.get(record_id, current_actor(), "update")
        with database.atomic():
            new = outbound.redeliver(_delivery(sub, delivery_id))
        return _with_attempts([new])[0]


@blp.route("/webhooks/<int:record_id>/ping")
class Ping(MethodView):
    @blp.response(202, DeliverySchema)
    def post(self, record_id):
        """Queue a ``webhook.ping`` to this subscription (sent within seconds, logged like any
        delivery) to check the receiver and its signature verification."""
        sub = crud.get(record_id, current_actor(), "update")
        if not sub.active:
            raise APIError(409, f"Webhook {sub.id} is inactive; activate it first.")
        with database.atomic():
            delivery = outbound.ping(sub)
        return _with_attempts([delivery])[0]


class SecretSchema(Schema):
    secret = fields.String()


@blp.route("/webhooks/<int:record_id>/secret")
class Secret(MethodView):
    @blp.response(200, SecretSchema)
    def get(self, record_id):
        """The signing secret (needs update permission on the subscription)."""
        sub = crud.get(record_id, current_actor(), "update")
        record_event(None, "reveal_secret", "webhooks", sub.id, record=sub)
        return {"secret": sub.secret}


@blp.route("/webhooks/<int:record_id>/rotate-secret")
class RotateSecret(MethodView):
    @blp.response(200, SecretSchema)
    def post(self, record_id):
        """Replace the signing secret with a new one and return it."""

        actor = current_actor()
        with database.atomic():
            sub = crud.get(record_id, actor, "update")
            secret = generate_secret()
            service.update(RESOURCE, sub, {"secret": secret}, actor, serialize=serialize)
        return {"secret": secret}


class InboundAnswerSchema(Schema):
    status = fields.String(metadata={"description": "processed or duplicate"})
    id = fields.String()


@blp.route("/webhooks/inbound/<string:source>")
@public
class Inbound(MethodView):
    @blp.response(200, InboundAnswerSchema)
    @blp.alt_response(401, description="Bad signature or timestamp outside the replay window")
    @blp.alt_response(404, description="No such source")
    @blp.doc(security=[])
    def post(self, source):
        """Receive a webhook from a registered integration (Standard Webhooks signature)."""
        answer, status = receive(current_app, source, request.headers, request.get_data(cache=False))
        return json_response(answer, status)
