"""Marshmallow schemas of the e-commerce API (they also document it in OpenAPI)."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crm_core.plugin_api import UTCDateTime, absolute_url

from .coupon_models import KINDS
from .models import PLATFORMS, STATUSES

MONEY = {"as_string": True, "places": 2}
ZERO = Decimal("0.00")  # defaults are not deserialised: they must be Decimals already


def _positive_money(**kwargs):
    return fields.Decimal(**MONEY, validate=validate.Range(min=0), **kwargs)


class EcommerceShopSchema(Schema):
    """A shop. Its secrets are write-only: the answer says whether they are set, never what."""

    id = fields.Integer(dump_only=True)
    key = fields.String(dump_only=True, metadata={"description": "names the shop in its webhook address"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    platform = fields.String(
        required=True,
        validate=validate.Length(min=1, max=20),
        metadata={"description": f"{', '.join(PLATFORMS)}, or one an adapter plugin adds"},
    )
    domain = fields.String(validate=validate.Length(max=255))
    api_url = fields.String(
        validate=validate.Length(max=500), metadata={"description": "pull sync reads here"}
    )
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"))
    phone_region = fields.String(validate=validate.Regexp(r"^[A-Z]{2}$"))
    active = fields.Boolean()
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict()
    webhook_secret = fields.String(
        load_only=True,
        validate=validate.Length(min=16, max=500),
        metadata={
            "description": "becomes the current secret; the previous one is accepted until end-rotation"
        },
    )
    credentials = fields.Dict(load_only=True, metadata={"description": "what pull sync signs in with"})
    has_webhook_secret = fields.Method("_has_secret", dump_only=True)
    rotating = fields.Method("_rotating", dump_only=True)
    webhook_url = fields.Method("_webhook_url", dump_only=True)
    synced_until = UTCDateTime(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)

    def _secrets(self, shop):
        from .sealing import webhook_secrets  # lazy: the key ring is opened only when dumping

        return webhook_secrets(shop) if getattr(shop, "secrets_token", None) else []

    def _has_secret(self, shop):
        return bool(self._secrets(shop))

    def _rotating(self, shop):
        return len(self._secrets(shop)) > 1

    def _webhook_url(self, shop):
        return absolute_url(f"/api/v1/ecommerce/webhooks/{shop.key}") if getattr(shop, "key", None) else None


class EcommerceLineSchema(Schema):
    """An order line."""

    external_id = fields.String(validate=validate.Length(max=100))
    sku = fields.String(load_default="", validate=validate.Length(max=100))
    name = fields.String(load_default="", validate=validate.Length(max=300))
    category = fields.String(load_default="", validate=validate.Length(max=100))
    quantity = fields.Integer(required=True, validate=validate.Range(min=0, max=1_000_000))
    unit_price = _positive_money(required=True)
    discount = _positive_money(load_default=ZERO)


class EcommerceRefundSchema(Schema):
    """A refund of an order."""

    external_id = fields.String(validate=validate.Length(max=100))
    amount = _positive_money(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=500))
    refunded_at = UTCDateTime()


class EcommerceStatusChangeSchema(Schema):
    """One step of an order's status history."""

    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    source = fields.String()
    source_updated_at = UTCDateTime()
    created_at = UTCDateTime()


class EcommerceOrderSchema(Schema):
    """An order (lines, refunds and history on its detail)."""

    id = fields.Integer(dump_only=True)
    shop_id = fields.Integer(required=True)
    external_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    number = fields.String(validate=validate.Length(max=100))
    customer_id = fields.Integer(dump_only=True, allow_none=True)
    external_customer_id = fields.String(dump_only=True, allow_none=True)
    status = fields.String(load_default="pending", validate=validate.OneOf(STATUSES))
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"))
    subtotal = _positive_money()
    shipping = _positive_money(load_default=ZERO)
    discount = _positive_money(load_default=ZERO)
    total = _positive_money(required=True)
    refunded = fields.Decimal(**MONEY, dump_only=True)
    placed_at = UTCDateTime()
    source_updated_at = UTCDateTime(metadata={"description": "the platform's clock (default: now)"})
    paid_at = UTCDateTime(allow_none=True)
    shipped_at = UTCDateTime(dump_only=True)
    delivered_at = UTCDateTime(dump_only=True)
    cancelled_at = UTCDateTime(dump_only=True)
    channel = fields.String(load_default="", validate=validate.Length(max=100))
    customer = fields.Dict(load_only=True, metadata={"description": "{external_id?, email?, phone?, name?}"})
    lines = fields.List(fields.Nested(EcommerceLineSchema), load_only=True)
    refunds = fields.List(fields.Nested(EcommerceRefundSchema), load_only=True)
    owner_id = fields.Integer(dump_only=True, allow_none=True)
    department_id = fields.Integer(dump_only=True, allow_none=True)
    custom = fields.Dict(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class EcommerceOrderDetailSchema(EcommerceOrderSchema):
    """An order with its lines, refunds and status history."""

    items = fields.List(fields.Nested(EcommerceLineSchema), dump_only=True)
    refund_list = fields.List(fields.Nested(EcommerceRefundSchema), dump_only=True, data_key="refund_list")
    history = fields.List(fields.Nested(EcommerceStatusChangeSchema), dump_only=True)
    coupons = fields.List(fields.Dict(), dump_only=True)


class EcommerceCouponTemplateSchema(Schema):
    """A coupon template: kind and value, limits, validity, stacking, where it applies."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    value = _positive_money(load_default=ZERO, metadata={"description": "amount off, or percent (15 = 15 %)"})
    cap = _positive_money(allow_none=True, metadata={"description": "most a percent coupon takes off"})
    threshold = _positive_money(
        load_default=ZERO, metadata={"description": "eligible subtotal needed (满减)"}
    )
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    valid_from = UTCDateTime(allow_none=True)
    valid_until = UTCDateTime(allow_none=True)
    valid_days = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=3650))
    per_customer_limit = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=100000))
    total_quantity = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=100_000_000))
    issued = fields.Integer(dump_only=True)
    uses_per_code = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    stackable = fields.Boolean(load_default=False)
    skus = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list)
    categories = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list)
    active = fields.Boolean(load_default=True)
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict()
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)

    @validates_schema(skip_on_field_errors=False)
    def _consistent(self, data, **kwargs):
        errors = {}
        if data.get("kind") == "percent_off" and data.get("value") is not None and data["value"] > 100:
            errors["value"] = [_l("A percentage is at most 100.")]
        if (
            data.get("kind") in ("amount_off", "threshold", "percent_off")
            and "value" in data
            and data["value"] <= 0
        ):
            errors["value"] = [_l("Must be more than 0.")]
        if data.get("kind") == "threshold" and "threshold" in data and data["threshold"] <= 0:
            errors["threshold"] = [_l("A threshold coupon needs a threshold.")]
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end <= start:
            errors["valid_until"] = [_l("Must be after valid_from.")]
        if errors:
            raise ValidationError(errors)


class EcommerceCouponCodeSchema(Schema):
    """A code of a template."""

    id = fields.Integer(dump_only=True)
    template_id = fields.Integer(dump_only=True)
    code = fields.String(dump_only=True)
    customer_id = fields.Integer(dump_only=True, allow_none=True)
    max_uses = fields.Integer(dump_only=True)
    uses = fields.Integer(dump_only=True)
    active = fields.Boolean(dump_only=True)
    issued_at = UTCDateTime(dump_only=True)
    expires_at = UTCDateTime(dump_only=True, allow_none=True, metadata={"description": "null: never expires"})
    issued_by = fields.String(dump_only=True)


class EcommerceIssueSchema(Schema):
    """Issue codes: to one customer, to a segment (a task), or anonymous codes."""

    customer_id = fields.Integer(validate=validate.Range(min=1))
    segment_id = fields.Integer(validate=validate.Range(min=1))
    code = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{4,64}$"))
    count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=250))

    @validates_schema
    def _one_target(self, data, **kwargs):
        if "customer_id" in data and "segment_id" in data:
            raise ValidationError({"segment_id": [_l("Give a customer or a segment, not both.")]})


class EcommerceRedeemSchema(Schema):
    """Redeem (核销) or quote a code on an order."""

    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    order_id = fields.Integer(required=True, validate=validate.Range(min=1))


class EcommerceRedemptionSchema(Schema):
    """A redemption of a code on an order."""

    id = fields.Integer(dump_only=True)
    code_id = fields.Integer(dump_only=True)
    template_id = fields.Integer(dump_only=True)
    order_id = fields.Integer(dump_only=True)
    customer_id = fields.Integer(dump_only=True, allow_none=True)
    amount = fields.Decimal(**MONEY, dump_only=True)
    status = fields.String(dump_only=True)
    redeemed_at = UTCDateTime(dump_only=True)
    released_at = UTCDateTime(
        dump_only=True, allow_none=True, metadata={"description": "null: still redeemed"}
    )


class EcommerceMergeSuggestionSchema(Schema):
    """Two customers that may be one person."""

    id = fields.Integer(dump_only=True)
    customer_a = fields.Integer(dump_only=True)
    customer_b = fields.Integer(dump_only=True)
    reason = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    shop_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = UTCDateTime(dump_only=True)


class EcommerceReceiptSchema(Schema):
    """What a webhook or tracking callback is answered: stored now, or already stored."""

    status = fields.String(metadata={"description": "queued, or duplicate for a repeated delivery"})


class EcommerceDeliverySchema(Schema):
    """One webhook delivery of the inbox, as ``GET /deliveries`` lists it (never its body)."""

    id = fields.Integer(dump_only=True)
    shop_id = fields.Integer(dump_only=True)
    topic = fields.String(dump_only=True)
    dedupe_key = fields.String(dump_only=True)
    status = fields.String(dump_only=True, metadata={"description": "pending, done or failed"})
    attempts = fields.Integer(dump_only=True)
    error = fields.String(dump_only=True, allow_none=True)
    order_id = fields.Integer(dump_only=True, allow_none=True)
    received_at = UTCDateTime(dump_only=True)


class EcommerceShipmentSchema(Schema):
    """A parcel of an order with its latest tracking status."""

    id = fields.Integer(dump_only=True)
    order_id = fields.Integer(dump_only=True)
    carrier = fields.String(dump_only=True)
    tracking_number = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    substatus = fields.String(dump_only=True)
    last_checkpoint_at = UTCDateTime(dump_only=True)
    alerted_at = UTCDateTime(dump_only=True)
    alert_reason = fields.String(dump_only=True)
    ticket_id = fields.Integer(dump_only=True, allow_none=True)
    owner_id = fields.Integer(dump_only=True, allow_none=True)
    department_id = fields.Integer(dump_only=True, allow_none=True)
    custom = fields.Dict(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
