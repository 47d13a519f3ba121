"""Coupon tables: templates (the rule), codes (what a customer types), usage and redemptions.

Every limit is held by the database, never by a read followed by a write:

- a code's uses: ``UPDATE code SET uses = uses + 1 WHERE id = ? AND uses < max_uses`` must change
  exactly one row;
- a customer's uses of a template: one ``Usage`` row per (template, customer), raised by the same
  kind of conditional UPDATE against the template's ``per_customer_limit``;
- a template's total quantity: ``issued`` raised conditionally when a code is issued;
- one redemption per (code, order): a unique index, so a retried redemption is the same one, and
  a release flips ``status`` from ``redeemed`` to ``released`` once (a conditional UPDATE too).
"""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import BaseModel, RecordModel, utcnow

from .models import MONEY

KINDS = ("amount_off", "percent_off", "threshold", "free_shipping")


class CouponTemplate(RecordModel):
    """What a coupon gives and when: kind and value, cap, threshold, validity, limits, stacking,
    the SKUs or categories it applies to (none: the whole order)."""

    crm_entity = "ecommerce.coupons"

    name = pw.CharField(max_length=200)
    kind = pw.CharField(max_length=20)
    value = pw.DecimalField(**MONEY, default=0)  # amount off, or percent (15 = 15 %)
    cap = pw.DecimalField(**MONEY, null=True)  # most a percent coupon takes off
    threshold = pw.DecimalField(**MONEY, default=0)  # the eligible subtotal needed (满减)
    currency = pw.CharField(max_length=3, default="CNY")
    valid_from = pw.DateTimeField(null=True)
    valid_until = pw.DateTimeField(null=True)
    valid_days = pw.IntegerField(null=True)  # a code expires this long after it was issued
    per_customer_limit = pw.IntegerField(null=True)  # redemptions per customer; null: no limit
    total_quantity = pw.IntegerField(null=True)  # codes that may be issued; null: no limit
    issued = pw.IntegerField(default=0)
    uses_per_code = pw.IntegerField(default=1)  # 1: single-use codes
    stackable = pw.BooleanField(default=False)
    skus = pw.JSONField(default=list)
    categories = pw.JSONField(default=list)
    active = pw.BooleanField(default=True)

    class Meta:
        table_name = "ecommerce_coupon_template"


class CouponCode(BaseModel):
    """A code of a template, unique once normalised (upper case, trimmed); bound to the customer
    it was issued to, or to nobody (anyone may use it)."""

    template = pw.ForeignKeyField(CouponTemplate, on_delete="CASCADE", column_name="template_id")
    code = pw.CharField(max_length=64, unique=True)
    customer_id = pw.IntegerField(null=True, index=True)
    max_uses = pw.IntegerField(default=1)
    uses = pw.IntegerField(default=0)
    active = pw.BooleanField(default=True)
    issued_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField(null=True)
    issued_by = pw.CharField(max_length=100, default="")  # api, segment:<id>, automation:<rule>

    class Meta:
        table_name = "ecommerce_coupon_code"


class CouponUsage(BaseModel):
    """How many redemptions of a template a customer holds (the per-customer limit's counter)."""

    template = pw.ForeignKeyField(CouponTemplate, on_delete="CASCADE", column_name="template_id")
    customer_id = pw.IntegerField()
    used = pw.IntegerField(default=0)

    class Meta:
        table_name = "ecommerce_coupon_usage"
        indexes = ((("template", "customer_id"), True),)


class CouponRedemption(BaseModel):
    """A code used on an order (核销), and its release when the order was cancelled or refunded."""

    code = pw.ForeignKeyField(CouponCode, on_delete="CASCADE", column_name="code_id")
    template = pw.ForeignKeyField(CouponTemplate, on_delete="CASCADE", column_name="template_id")
    order_id = pw.IntegerField(index=True)
    customer_id = pw.IntegerField(null=True)
    amount = pw.DecimalField(**MONEY)
    status = pw.CharField(max_length=20, default="redeemed")  # redeemed, released
    redeemed_at = pw.DateTimeField(default=utcnow)
    released_at = pw.DateTimeField(null=True)
    actor_id = pw.IntegerField(null=True)

    class Meta:
        table_name = "ecommerce_coupon_redemption"
        indexes = ((("code", "order_id"), True),)


MODELS = [CouponTemplate, CouponCode, CouponUsage, CouponRedemption]
