"""Automation rules ("when <event> and <conditions> then <actions>") and the log of their runs."""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel, RecordModel, utcnow

# run status
SUCCEEDED, SKIPPED, RETRYING, FAILED, LOOP_STOPPED = (
    "succeeded",
    "skipped",
    "retrying",
    "failed",
    "loop_stopped",
)


class AutomationRule(RecordModel):
    """A rule: ``trigger`` (an event type, ``*`` wildcards allowed), ``conditions`` (the JSON
    condition language of :mod:`crm_core.automations.conditions`), ``actions`` (``[{"type",
    "params"}]``). Actions run as the rule's owner, with the owner's permissions."""

    name = pw.CharField(max_length=200)
    description = pw.TextField(default="")
    trigger = pw.CharField(max_length=150, index=True)
    conditions = pw.JSONField(default=dict)
    actions = pw.JSONField(default=list)
    active = pw.BooleanField(default=True)

    class Meta:
        table_name = "automation_rule"


class AutomationRun(BaseModel):
    """One evaluation of a rule for one event: whether it matched, what each action did.

    ``results`` holds one entry per action: ``{"type", "status", "attempts", "result"|"error"}``;
    a retry resumes at the first action that did not succeed.
    """

    rule = pw.ForeignKeyField(AutomationRule, on_delete="CASCADE", backref="runs")
    event_id = pw.CharField(max_length=64)
    event_seq = pw.IntegerField(null=True)
    event_type = pw.CharField(max_length=150)
    customer_id = pw.IntegerField(null=True)
    matched = pw.BooleanField(default=False)
    status = pw.CharField(max_length=15)
    results = pw.JSONField(default=list)
    trace = pw.JSONField(null=True)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(null=True)
    error = pw.TextField(null=True)
    finished_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "automation_run"
        indexes = (
            (("rule", "event_id"), True),
            (("status", "next_attempt_at"), False),
        )


MODELS = [AutomationRule, AutomationRun]
