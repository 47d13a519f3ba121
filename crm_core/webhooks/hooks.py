"""The webhooks capability as a plugin: tables, API, the fan-out consumer and the delivery job."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from flask.cli import with_appcontext

from .. import hookimpl
from ..db import utcnow
from .models import FAILED, MODELS, SUCCEEDED, WebhookAttempt, WebhookDelivery
from .outbound import deliver_due, fan_out

requires = ("core.auth", "core.events")

DELIVERY_INTERVAL_SECONDS = 2
LOG_RETENTION_DAYS = 30


#: the deliveries that age: finished ones (their attempts go with them, ON DELETE CASCADE)
FINISHED = WebhookDelivery.status.in_([SUCCEEDED, FAILED])


def prune_deliveries() -> int:
    """Delete finished deliveries (and their attempts) older than 30 days; returns how many.
    (Scheduled, this is the ``webhook_deliveries`` retention policy of ``core:retention``.)"""
    cutoff = utcnow() - dt.timedelta(days=LOG_RETENTION_DAYS)
    return WebhookDelivery.delete().where(WebhookDelivery.created_at < cutoff, FINISHED).execute()


@hookimpl
def crm_retention_policies():
    # attempts first (policies run in name order): on PostgreSQL (partitioned by month) a month of attempts that all belong to
    # finished deliveries is dropped whole, before the deliveries' delete would cascade row by row
    return [
        {
            "name": "webhook_attempts",
            "model": WebhookAttempt,
            "field": WebhookAttempt.started_at,
            "where": WebhookAttempt.delivery.in_(WebhookDelivery.select(WebhookDelivery.id).where(FINISHED)),
            "setting": "WEBHOOK_LOG_RETENTION_DAYS",
            "default_days": LOG_RETENTION_DAYS,
        },
        {
            "name": "webhook_deliveries",
            "model": WebhookDelivery,
            "field": WebhookDelivery.created_at,
            "where": FINISHED,
            "setting": "WEBHOOK_LOG_RETENTION_DAYS",
            "default_days": LOG_RETENTION_DAYS,
        },
    ]


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_event(event):
    """Queue the event for every matching subscription (sent later by the delivery job)."""
    fan_out(event)


@hookimpl
def crm_jobs():
    return [
        {
            "id": "core.webhooks:deliver",
            "func": deliver_due,
            "trigger": "interval",
            "seconds": DELIVERY_INTERVAL_SECONDS,
            "description": "Send due webhook deliveries and retries.",
        },
    ]


@hookimpl
def crm_cli(group):
    @group.group("webhooks")
    def webhooks_group():
        """Outbound webhooks: send due deliveries now."""

    @webhooks_group.command("deliver")
    @with_appcontext
    def deliver_command():
        """Send every due delivery now (normally the scheduler does this)."""
        total = 0
        while True:
            sent = deliver_due()
            total += sent
            if not sent:
                break
        click.echo(f"attempted {total} deliver(y/ies)")
