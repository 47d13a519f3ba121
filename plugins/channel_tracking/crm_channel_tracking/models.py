"""The plugin's tables, all prefixed ``channel_tracking_``.

Touchpoints and conversions are joined on ``subject``: ``c:<customer id>`` once the person is
known, ``v:<visitor id>`` while anonymous. Identity stitching rewrites a visitor's earlier
touchpoints to the customer's subject, so attribution and funnels are one equality join on an
index instead of an ``OR`` over two columns. On PostgreSQL the touchpoint table is partitioned by
month (see the migration); its primary key there is ``(id, occurred_at)``.
"""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import BaseModel, database, utcnow

MONEY = {"max_digits": 14, "decimal_places": 2, "auto_round": True}


class Channel(BaseModel):
    """A named channel (``Douyin KOL``) in a channel group (``kol``, ``paid_search``...)."""

    name = pw.CharField(max_length=120, unique=True)
    group = pw.CharField(max_length=40, index=True)
    description = pw.TextField(default="")

    class Meta:
        table_name = "channel_tracking_channel"


class Campaign(BaseModel):
    """A campaign: its UTM values, channel, optional KOL, budget and dates."""

    name = pw.CharField(max_length=200)
    channel = pw.ForeignKeyField(Channel, null=True, backref="campaigns", on_delete="SET NULL")
    utm_source = pw.CharField(max_length=200, default="")
    utm_medium = pw.CharField(max_length=200, default="")
    utm_campaign = pw.CharField(max_length=200, unique=True)
    utm_term = pw.CharField(max_length=200, default="")
    utm_content = pw.CharField(max_length=200, default="")
    kol = pw.CharField(max_length=200, null=True, index=True)
    budget = pw.DecimalField(null=True, **MONEY)
    currency = pw.CharField(max_length=3, default="CNY")
    starts_on = pw.DateField(null=True)
    ends_on = pw.DateField(null=True)

    class Meta:
        table_name = "channel_tracking_campaign"


class Spend(BaseModel):
    """Money spent on a campaign on one day (entered or imported; one row per campaign and day)."""

    campaign = pw.ForeignKeyField(Campaign, backref="spend", on_delete="CASCADE")
    day = pw.DateField()
    amount = pw.DecimalField(**MONEY)

    class Meta:
        table_name = "channel_tracking_spend"
        indexes = ((("campaign", "day"), True),)


class TrackingLink(BaseModel):
    """A short link ``/t/<code>`` for a campaign or KOL that records the click and redirects."""

    code = pw.CharField(max_length=32, unique=True)
    campaign = pw.ForeignKeyField(Campaign, backref="links", on_delete="CASCADE")
    kol = pw.CharField(max_length=200, null=True)
    target_url = pw.CharField(max_length=2000)
    clicks = pw.IntegerField(default=0)

    class Meta:
        table_name = "channel_tracking_link"


class IngestKey(BaseModel):
    """A write-only ingestion key: it can send events and nothing else. Stored as a SHA-256 hash."""

    name = pw.CharField(max_length=200)
    prefix = pw.CharField(max_length=16)
    key_hash = pw.CharField(max_length=64, unique=True)
    created_by = pw.IntegerField(null=True)
    revoked_at = pw.DateTimeField(null=True)
    last_used_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "channel_tracking_ingest_key"


class Touchpoint(pw.Model):
    """One tracked event of a visitor (page view, click, follow, live view, order...)."""

    id = pw.BigAutoField()
    subject = pw.CharField(max_length=140)
    visitor_id = pw.CharField(max_length=128)
    customer_id = pw.BigIntegerField(null=True)
    event_type = pw.CharField(max_length=64)
    occurred_at = pw.DateTimeField()
    received_at = pw.DateTimeField(default=utcnow)
    channel_group = pw.CharField(max_length=40)
    campaign_id = pw.IntegerField(null=True)
    link_id = pw.IntegerField(null=True)
    kol = pw.CharField(max_length=200, null=True)
    utm_source = pw.CharField(max_length=200, null=True)
    utm_medium = pw.CharField(max_length=200, null=True)
    utm_campaign = pw.CharField(max_length=200, null=True)
    utm_term = pw.CharField(max_length=200, null=True)
    utm_content = pw.CharField(max_length=200, null=True)
    click_ids = pw.TextField(null=True)  # JSON object of the click ids exactly as sent
    referrer = pw.CharField(max_length=2000, null=True)
    url = pw.CharField(max_length=2000, null=True)

    class Meta:
        database = database
        table_name = "channel_tracking_touchpoint"


class Identity(BaseModel):
    """A visitor id known to belong to a customer (from a signup or login)."""

    visitor_id = pw.CharField(max_length=128, unique=True)
    customer_id = pw.BigIntegerField(index=True)

    class Meta:
        table_name = "channel_tracking_identity"


class Conversion(BaseModel):
    """A paid order (or another conversion) with its revenue, attributed at ``occurred_at``."""

    order_ref = pw.CharField(max_length=200, unique=True)
    subject = pw.CharField(max_length=140, index=True)
    customer_id = pw.BigIntegerField(null=True, index=True)
    visitor_id = pw.CharField(max_length=128, null=True)
    revenue = pw.DecimalField(**MONEY)
    currency = pw.CharField(max_length=3, default="CNY")
    occurred_at = pw.DateTimeField(index=True)
    source = pw.CharField(max_length=20, default="api")

    class Meta:
        table_name = "channel_tracking_conversion"


class Credit(BaseModel):
    """The share of one conversion a touchpoint (session start) earned under one model, stored
    when the conversion is recorded with the configured window (reports recompute in SQL for any
    other window)."""

    conversion = pw.ForeignKeyField(Conversion, backref="credits", on_delete="CASCADE")
    model = pw.CharField(max_length=32)
    touchpoint_id = pw.BigIntegerField()
    channel_group = pw.CharField(max_length=40)
    campaign_id = pw.IntegerField(null=True)
    kol = pw.CharField(max_length=200, null=True)
    credit = pw.FloatField()
    revenue = pw.DecimalField(**MONEY)

    class Meta:
        table_name = "channel_tracking_credit"
        indexes = ((("conversion", "model"), False),)


MODELS = [Channel, Campaign, Spend, TrackingLink, IngestKey, Touchpoint, Identity, Conversion, Credit]
