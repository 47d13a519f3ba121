"""Customer portraits (用户画像): each customer's order figures and RFM scores, and the rules
that keep tags on customers true.

``CustomerProfile`` is derived data, rebuilt from orders at any time; ``dirty`` marks a profile
an event changed (an order, a tier, a touchpoint) for the next run of ``ecommerce:portraits``.
``auto_tags`` remembers the tags the rules put on the customer, so a rule removes only what it
added, never a tag a person set by hand.
"""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import BaseModel, RecordModel

from .models import MONEY


class CustomerProfile(BaseModel):
    """One customer's figures over ``ECOMMERCE_RFM_WINDOW_DAYS`` and their R, F, M (1..5; 0: no
    paid order), with what other plugins told through events (loyalty tier, channels)."""

    customer_id = pw.IntegerField(unique=True)
    orders = pw.IntegerField(default=0)
    spent = pw.DecimalField(**MONEY, default=0)
    avg_order = pw.DecimalField(**MONEY, default=0)
    max_order = pw.DecimalField(**MONEY, default=0)
    last_order_at = pw.DateTimeField(null=True)
    recency_days = pw.IntegerField(null=True)
    r = pw.IntegerField(default=0)
    f = pw.IntegerField(default=0)
    m = pw.IntegerField(default=0)
    loyalty_tier = pw.CharField(max_length=100, null=True)  # from tier.changed
    channels = pw.JSONField(default=list)  # from touchpoint.recorded and attribution.assigned
    auto_tags = pw.JSONField(default=list)
    dirty = pw.BooleanField(default=True, index=True)
    computed_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "ecommerce_customer_profile"


class TagRule(RecordModel):
    """While every condition holds for a customer, they carry ``tag``; when one stops holding,
    the tag goes (if this plugin's rules put it there)."""

    crm_entity = "ecommerce.tag_rules"

    name = pw.CharField(max_length=200)
    tag = pw.CharField(max_length=100)
    conditions = pw.JSONField(default=list)  # [{"field", "op", "value"}], all must hold
    active = pw.BooleanField(default=True)

    class Meta:
        table_name = "ecommerce_tag_rule"


MODELS = [CustomerProfile, TagRule]
