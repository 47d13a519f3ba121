"""The REST API under ``/api/v1/ecommerce``: shops, orders, the inbox and merge suggestions.

Shops are a ``CrudView`` (resource ``ecommerce.shops``) whose secrets are write-only. Orders
(resource ``ecommerce.orders``) are listed and read with the core's list grammar and row scope:
an order lies in its shop's department. ``POST /orders`` applies an order the way a webhook
does (same upsert and newer-only rule). Coupons are in :mod:`crm_ecommerce.coupon_api`.
"""

from __future__ import annotations

import json
import secrets

from flask import current_app, request
from flask.views import MethodView
from flask_babel import gettext as _

from crm_core.plugin_api import (
    API_PREFIX,
    APIError,
    Blueprint,
    CrudView,
    action,
    current_actor,
    get_record,
    json_response,
    mask,
    page_params,
    pagination_header,
    public,
    record_dict,
    record_written,
    require,
    route_limit,
    scoped,
    utcnow,
    write_transaction,
)

from . import inbox, orders, platforms, sealing, sync
from .coupon_models import CouponRedemption
from .models import Delivery, MergeSuggestion, Order, OrderLine, Refund, Shop, StatusChange
from .schemas import (
    EcommerceDeliverySchema,
    EcommerceMergeSuggestionSchema,
    EcommerceOrderDetailSchema,
    EcommerceOrderSchema,
    EcommerceReceiptSchema,
    EcommerceShipmentSchema,
    EcommerceShopSchema,
)
from .shipment_models import Shipment

SHOPS, ORDERS, IDENTITIES = "ecommerce.shops", "ecommerce.orders", "ecommerce.identities"
# a platform sends bursts (a Shopify bulk edit: hundreds a minute) from addresses shared with
# other shops: counted per shop, not in the per-IP budget of everyone behind that address
WEBHOOK_LIMIT = "1200/minute"

blp = Blueprint(
    "ecommerce",
    __name__,
    url_prefix=f"{API_PREFIX}/ecommerce",
    description="E-commerce: shops, orders synced exactly once from webhooks and pull sync, coupons.",
)


def _webhook_limit() -> str:
    """Calls per minute one shop's webhook (or tracking) address takes (``ECOMMERCE_WEBHOOK_RATELIMIT``)."""
    return current_app.config.get("ECOMMERCE_WEBHOOK_RATELIMIT") or WEBHOOK_LIMIT


def _per_shop(shop_key: str) -> str:
    return shop_key


def _shop_image(shop: Shop) -> dict:
    """A shop as audit and events see it: without its sealed secrets."""
    image = record_dict(shop)
    image.pop("secrets_token", None)
    return image


class Shops(CrudView):
    """Shops: their platform, department, and write-only secrets."""

    resource, model, schema, path, name = SHOPS, Shop, EcommerceShopSchema, "/shops", "shops"
    search_fields = [Shop.name, Shop.domain]
    description = "shops"

    def serialize(self, record) -> dict:
        """The audit image, without the sealed secrets."""
        return _shop_image(record)

    @staticmethod
    def before_save(record, data, before):
        """A new shop gets its key; the write-only fields are sealed into its token; the platform
        must be one this plugin or an adapter plugin reads."""
        known = sync.known_platforms()
        if record.platform not in known:
            message = _("Unknown platform; known: %(names)s.", names=", ".join(sorted(known)))
            raise APIError(422, message, errors={"platform": [message]})
        if not record.key:
            record.key = secrets.token_urlsafe(18)
        if "webhook_secret" in data or "credentials" in data:
            sealing.apply_changes(record, data)

    @action("end_rotation")
    def end_rotation(self, record, data, actor):
        """Stop accepting the previous webhook secret (after the platform signs with the new one)."""
        if not record.secrets_token:
            raise APIError(409, _("The shop has no webhook secret."))
        sealing.end_rotation(record)


class Orders(CrudView):
    """Orders: listed and read here; written by webhooks, sync and ``POST /orders``."""

    resource, model, schema, path, name = ORDERS, Order, EcommerceOrderSchema, "/orders", "orders"
    methods = ("list", "read")
    search_fields = [Order.number, Order.external_id]
    description = "orders"

    def read(self, record_id, actor):
        """An order with its lines, refunds, status history and coupons."""
        order = self.crud.get(record_id, actor)
        return json_response(mask(actor, ORDERS, detail(order)))


def detail(order: Order) -> dict:
    """The order's detail (lines, refunds, history, coupon redemptions) as the API dumps it."""
    order.items = list(OrderLine.select().where(OrderLine.order == order.id).order_by(OrderLine.id))
    order.refund_list = list(Refund.select().where(Refund.order == order.id).order_by(Refund.id))
    order.history = list(
        StatusChange.select().where(StatusChange.order == order.id).order_by(StatusChange.id)
    )
    order.coupons = [
        {"redemption_id": r.id, "code_id": r.code_id, "amount": str(r.amount), "status": r.status}
        for r in CouponRedemption.select().where(CouponRedemption.order_id == order.id)
    ]
    return EcommerceOrderDetailSchema().dump(order)


Shops.mount(blp)
Orders.mount(blp)


@blp.route("/orders/apply")
class ApplyOrder(MethodView):
    """Apply an order by hand or from an integration without webhooks."""

    @blp.arguments(EcommerceOrderSchema)
    @blp.response(200, EcommerceOrderDetailSchema)
    def post(self, data):
        """Create or update the order (shop, external_id) as a webhook would: applied only when
        ``source_updated_at`` is newer than the stored one (``outcome`` says what happened)."""
        actor = current_actor()
        require(actor, ORDERS, "create")
        shop = get_record(Shop, data["shop_id"], actor, SHOPS)
        buyer = data.get("customer") or {}
        incoming = {
            **{k: data[k] for k in ("external_id", "status", "shipping", "discount", "total", "channel")},
            "number": data.get("number") or data["external_id"],
            "currency": data.get("currency") or shop.currency,
            "subtotal": data.get("subtotal", data["total"]),
            "placed_at": data.get("placed_at") or utcnow(),
            "updated_at": data.get("source_updated_at") or utcnow(),
            "paid_at": data.get("paid_at"),
            "customer": platforms.customer(
                *(buyer.get(k) for k in ("external_id", "email", "phone", "name"))
            ),
            "lines": [
                {**line, "external_id": line.get("external_id") or str(i + 1)}
                for i, line in enumerate(data.get("lines") or [])
            ],
            "refunds": [
                {
                    **r,
                    "external_id": r.get("external_id") or f"api-{i + 1}",
                    "refunded_at": r.get("refunded_at"),
                }
                for i, r in enumerate(data.get("refunds") or [])
            ],
        }
        order, outcome = orders.apply(shop, incoming, actor, "api")
        return json_response({**mask(actor, ORDERS, detail(order)), "outcome": outcome})


@blp.route("/tracking/<string:shop_key>")
@public
class Tracking(MethodView):
    """Tracking callbacks of one shop's carriers (AfterShip's signature and shape)."""

    @blp.doc(security=[])
    @blp.alt_response(400, description="The body is not a JSON object")
    @blp.alt_response(401, description="The signature matches none of the shop's secrets")
    @blp.alt_response(404, description="No active shop has this key")
    @blp.alt_response(429, description="The shop's webhook rate limit is used up")
    @blp.response(200, EcommerceReceiptSchema)
    @route_limit(_webhook_limit, key=_per_shop, name="ecommerce.webhooks")
    def post(self, shop_key):
        """Verify ``aftership-hmac-sha256`` over the raw body and queue the callback."""
        status, answer = inbox.receive(
            shop_key, request.get_data(cache=False), request.headers, tracking=True
        )
        return json_response(answer, status)


class Shipments(CrudView):
    """Parcels and their tracking status (written by tracking callbacks)."""

    resource, model, schema, path, name = (
        "ecommerce.shipments",
        Shipment,
        EcommerceShipmentSchema,
        "/shipments",
        "shipments",
    )
    methods = ("list", "read")
    search_fields = [Shipment.tracking_number]
    description = "parcels"


Shipments.mount(blp)


@blp.route("/webhooks/<string:shop_key>")
@public
class Webhook(MethodView):
    """Order webhooks of one shop (Shopify, WooCommerce or the generic HMAC)."""

    @blp.doc(security=[])
    @blp.alt_response(400, description="The body is not a JSON object")
    @blp.alt_response(401, description="The signature matches none of the shop's secrets")
    @blp.alt_response(404, description="No active shop has this key")
    @blp.alt_response(429, description="The shop's webhook rate limit is used up")
    @blp.response(200, EcommerceReceiptSchema)
    @route_limit(_webhook_limit, key=_per_shop, name="ecommerce.webhooks")
    def post(self, shop_key):
        """Verify the signature over the raw body and queue the delivery (applied by the job
        ``ecommerce:inbox``); a repeated delivery answers ``duplicate``."""
        status, answer = inbox.receive(shop_key, request.get_data(cache=False), request.headers)
        return json_response(answer, status)


def _page(query, schema, actor, resource):
    page, page_size = page_params(request.args)
    total = query.count()
    rows = list(query.paginate(page, page_size))
    data = mask(actor, resource, schema(many=True).dump(rows))
    return json_response(data, 200, {"X-Pagination": json.dumps(pagination_header(total, page, page_size))})


@blp.route("/deliveries")
class Deliveries(MethodView):
    """The webhook inbox of the shops you may read."""

    @blp.response(200, EcommerceDeliverySchema(many=True))
    def get(self):
        """Deliveries, newest first; filter by ``status`` and ``shop_id`` (bodies are never shown)."""
        actor = current_actor()
        shops = scoped(Shop.select(Shop.id), actor, SHOPS, "read")
        query = Delivery.select().where(Delivery.shop.in_(shops)).order_by(Delivery.id.desc())
        if request.args.get("status"):
            query = query.where(Delivery.status == request.args["status"])
        if request.args.get("shop_id", "").isdigit():
            query = query.where(Delivery.shop == int(request.args["shop_id"]))
        page, page_size = page_params(request.args)
        total = query.count()
        rows = [
            {
                "id": d.id,
                "shop_id": d.shop_id,
                "topic": d.topic,
                "dedupe_key": d.dedupe_key,
                "status": d.status,
                "attempts": d.attempts,
                "error": d.error,
                "order_id": d.order_id,
                "received_at": d.received_at.isoformat(timespec="seconds") + "Z",
            }
            for d in query.paginate(page, page_size)
        ]
        return json_response(
            rows, 200, {"X-Pagination": json.dumps(pagination_header(total, page, page_size))}
        )


@blp.route("/merge-suggestions")
class MergeSuggestions(MethodView):
    """Customers a shop's customer matched twice (e-mail and phone of different customers)."""

    @blp.response(200, EcommerceMergeSuggestionSchema(many=True))
    def get(self):
        """Open suggestions (``status=dismissed`` for the others)."""
        actor = current_actor()
        require(actor, IDENTITIES, "read")
        status = request.args.get("status") or "open"
        query = MergeSuggestion.select().where(MergeSuggestion.status == status).order_by(MergeSuggestion.id)
        return _page(query, EcommerceMergeSuggestionSchema, actor, IDENTITIES)


@blp.route("/merge-suggestions/<int:suggestion_id>/dismiss")
class DismissSuggestion(MethodView):
    """Dismiss a suggestion: the two customers are different people."""

    @blp.response(200, EcommerceMergeSuggestionSchema)
    def post(self, suggestion_id):
        """Mark the suggestion dismissed."""
        actor = current_actor()
        require(actor, IDENTITIES, "update")
        suggestion = MergeSuggestion.get_or_none(MergeSuggestion.id == suggestion_id)
        if suggestion is None:
            raise APIError(404, _("No such suggestion."))
        with write_transaction():
            before = record_dict(suggestion)
            suggestion.status, suggestion.updated_at = "dismissed", utcnow()
            suggestion.save()
            record_written("dismiss", IDENTITIES, suggestion, actor, before, record_dict(suggestion))
        return json_response(EcommerceMergeSuggestionSchema().dump(MergeSuggestion.get_by_id(suggestion_id)))
