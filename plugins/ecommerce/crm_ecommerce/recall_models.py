"""Recall flows (abandoned cart, dwell without order) and each customer's run through one."""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import BaseModel, RecordModel

from .coupon_models import CouponTemplate

TRIGGERS = ("cart.updated", "checkout.started", "page.dwell")
RUN_STATES = ("waiting", "sent", "exited")


class RecallFlow(RecordModel):
    """When a trigger event names a customer, wait ``delay_minutes``, then, unless an exit
    condition holds, issue the coupon (if any) and send ``message``."""

    crm_entity = "ecommerce.recall"

    name = pw.CharField(max_length=200)
    triggers = pw.JSONField(default=list)  # event types among TRIGGERS
    delay_minutes = pw.IntegerField(default=60)
    cooldown_days = pw.IntegerField(default=7)  # not recalled again within this many days
    template = pw.ForeignKeyField(CouponTemplate, null=True, on_delete="SET NULL", column_name="template_id")
    message = pw.TextField(default="")
    active = pw.BooleanField(default=True)

    class Meta:
        table_name = "ecommerce_recall_flow"


class RecallRun(BaseModel):
    """One customer's pass through a flow, started by one event (unique: a redelivered event
    starts nothing new)."""

    flow = pw.ForeignKeyField(RecallFlow, on_delete="CASCADE", column_name="flow_id", backref="runs")
    customer_id = pw.IntegerField(index=True)
    event_id = pw.CharField(max_length=40)
    trigger = pw.CharField(max_length=40)
    started_at = pw.DateTimeField()
    due_at = pw.DateTimeField(index=True)
    status = pw.CharField(max_length=10, default="waiting", index=True)
    exit_reason = pw.CharField(max_length=40, default="")
    code_id = pw.IntegerField(null=True)
    finished_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "ecommerce_recall_run"
        indexes = ((("flow", "event_id"), True), (("flow", "customer_id", "started_at"), False))


MODELS = [RecallFlow, RecallRun]
