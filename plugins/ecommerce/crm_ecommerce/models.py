"""Tables of shops, orders, the webhook inbox and customer identities (all ``ecommerce_``).

Shops and orders are records (owner, department, ``custom``): an order lives in its shop's
department, so the department that owns a shop sees that shop's orders through the ordinary row
scope. Secrets and credentials are envelope tokens (``seal_value``), never columns in the clear.
Coupons are in :mod:`crm_ecommerce.coupon_models`.
"""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import BaseModel, RecordModel, utcnow

PLATFORMS = ("shopify", "woocommerce", "generic")
STATUSES = (
    "pending",
    "paid",
    "shipped",
    "delivered",
    "partially_refunded",
    "refunded",
    "cancelled",
)
#: statuses after which an order is settled: a cancel or full refund releases its coupons
RELEASING = ("cancelled", "refunded")
DELIVERY_STATES = ("pending", "applied", "stale", "duplicate", "failed")
MONEY = {"max_digits": 18, "decimal_places": 2}


class Shop(RecordModel):
    """A storefront on a platform. ``key`` names it in its webhook address and binds its sealed
    secrets; ``secrets_token`` seals ``{"webhook": [current, previous?], "credentials": {...}}``."""

    crm_entity = "ecommerce.shops"

    key = pw.CharField(max_length=40, unique=True)
    name = pw.CharField(max_length=200)
    platform = pw.CharField(max_length=20)
    domain = pw.CharField(max_length=255, default="")  # example.myshopify.com, the Woo site URL
    api_url = pw.CharField(max_length=500, default="")  # where pull sync reads orders
    currency = pw.CharField(max_length=3, default="CNY")
    phone_region = pw.CharField(max_length=2, default="CN")
    active = pw.BooleanField(default=True)
    secrets_token = pw.TextField(null=True)
    synced_until = pw.DateTimeField(null=True)  # the reconciliation watermark (platform updated_at)

    class Meta:
        table_name = "ecommerce_shop"


class Order(RecordModel):
    """An order of a shop, upserted on (shop, external id); ``source_updated_at`` is the
    platform's own clock: an older delivery never overwrites a newer state."""

    crm_entity = "ecommerce.orders"

    shop = pw.ForeignKeyField(Shop, on_delete="RESTRICT", column_name="shop_id")
    external_id = pw.CharField(max_length=100)
    number = pw.CharField(max_length=100, default="")
    customer_id = pw.IntegerField(null=True, index=True)  # the CRM customer (a plain column: see hooks)
    external_customer_id = pw.CharField(max_length=100, null=True)
    status = pw.CharField(max_length=20, default="pending", index=True)
    currency = pw.CharField(max_length=3)
    subtotal = pw.DecimalField(**MONEY, default=0)
    shipping = pw.DecimalField(**MONEY, default=0)
    discount = pw.DecimalField(**MONEY, default=0)
    total = pw.DecimalField(**MONEY, default=0)
    refunded = pw.DecimalField(**MONEY, default=0)
    placed_at = pw.DateTimeField(default=utcnow, index=True)
    paid_at = pw.DateTimeField(null=True)
    shipped_at = pw.DateTimeField(null=True)
    delivered_at = pw.DateTimeField(null=True)
    cancelled_at = pw.DateTimeField(null=True)
    source_updated_at = pw.DateTimeField(null=True)
    channel = pw.CharField(max_length=100, default="")

    class Meta:
        table_name = "ecommerce_order"
        indexes = ((("shop", "external_id"), True), (("customer_id", "placed_at"), False))


class OrderLine(BaseModel):
    """One line of an order, keyed on (order, external line id)."""

    order = pw.ForeignKeyField(Order, on_delete="CASCADE", column_name="order_id", backref="lines")
    external_id = pw.CharField(max_length=100)
    sku = pw.CharField(max_length=100, default="")
    name = pw.CharField(max_length=300, default="")
    category = pw.CharField(max_length=100, default="")
    quantity = pw.IntegerField(default=1)
    unit_price = pw.DecimalField(**MONEY, default=0)
    discount = pw.DecimalField(**MONEY, default=0)

    class Meta:
        table_name = "ecommerce_order_line"
        indexes = ((("order", "external_id"), True),)


class Refund(BaseModel):
    """A refund of an order: append-only, keyed on (order, external refund id)."""

    order = pw.ForeignKeyField(Order, on_delete="CASCADE", column_name="order_id", backref="refunds")
    external_id = pw.CharField(max_length=100)
    amount = pw.DecimalField(**MONEY)
    reason = pw.CharField(max_length=500, default="")
    refunded_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "ecommerce_refund"
        indexes = ((("order", "external_id"), True),)


class StatusChange(BaseModel):
    """Every status an order went through, with where the change came from."""

    order = pw.ForeignKeyField(Order, on_delete="CASCADE", column_name="order_id", backref="history")
    from_status = pw.CharField(max_length=20, null=True)
    to_status = pw.CharField(max_length=20)
    source = pw.CharField(max_length=20)  # webhook, sync, api
    source_updated_at = pw.DateTimeField(null=True)
    actor_id = pw.IntegerField(null=True)

    class Meta:
        table_name = "ecommerce_status_change"


class Delivery(BaseModel):
    """A verified inbound webhook, stored before it is processed (the inbox). Unique on the
    shop's dedupe key, so a repeated delivery is recognised at the door."""

    shop = pw.ForeignKeyField(Shop, on_delete="CASCADE", column_name="shop_id")
    dedupe_key = pw.CharField(max_length=300)
    topic = pw.CharField(max_length=100, default="")
    body_token = pw.TextField(null=True)  # sealed raw body (it names people); cleared once applied
    status = pw.CharField(max_length=20, default="pending", index=True)
    attempts = pw.IntegerField(default=0)
    error = pw.CharField(max_length=500, default="")
    received_at = pw.DateTimeField(default=utcnow)
    processed_at = pw.DateTimeField(null=True)
    order_id = pw.IntegerField(null=True)

    class Meta:
        table_name = "ecommerce_delivery"
        indexes = ((("shop", "dedupe_key"), True), (("status", "id"), False))


class Identity(BaseModel):
    """A platform customer of a shop mapped to a CRM customer; unique per (shop, external id).
    ``customer_id`` is null only while the first order of that customer is being applied."""

    shop = pw.ForeignKeyField(Shop, on_delete="CASCADE", column_name="shop_id")
    external_id = pw.CharField(max_length=100)
    customer_id = pw.IntegerField(null=True, index=True)

    class Meta:
        table_name = "ecommerce_identity"
        indexes = ((("shop", "external_id"), True),)


class MergeSuggestion(BaseModel):
    """Two CRM customers a platform customer matched at once (one by e-mail, the other by phone):
    for a person to review, never merged automatically. ``customer_a < customer_b``."""

    customer_a = pw.IntegerField()
    customer_b = pw.IntegerField()
    reason = pw.CharField(max_length=300)
    status = pw.CharField(max_length=20, default="open")  # open, dismissed
    shop = pw.ForeignKeyField(Shop, null=True, on_delete="SET NULL", column_name="shop_id")

    class Meta:
        table_name = "ecommerce_merge_suggestion"
        indexes = ((("customer_a", "customer_b"), True),)


MODELS = [Shop, Order, OrderLine, Refund, StatusChange, Delivery, Identity, MergeSuggestion]
