"""The plugin's scheduled jobs: the webhook inbox and the reconciliation of recent orders."""

from __future__ import annotations

from . import inbox, shipments, sync


def process_inbox(ctx):
    """Apply the verified webhook deliveries waiting in the inbox."""
    return inbox.process(ctx.actor)


def reconcile(ctx):
    """Re-read the orders each shop changed since its watermark (minus an overlap) and apply them."""
    return sync.reconcile_all(ctx.actor, ctx.now)


def stuck_shipments(ctx):
    """Open a ticket and send the apology for parcels without progress for too long."""
    return shipments.alert_stuck(ctx.actor, ctx.now)


JOBS = [
    {
        "id": "ecommerce:inbox",
        "func": process_inbox,
        "trigger": "interval",
        "seconds": 5,
        "description": "Apply queued order webhooks",
    },
    {
        "id": "ecommerce:reconcile",
        "func": reconcile,
        "trigger": "interval",
        "minutes": 15,
        "description": "Re-read recently changed orders from each shop (missed webhooks)",
    },
    {
        "id": "ecommerce:stuck_shipments",
        "func": stuck_shipments,
        "trigger": "cron",
        "minute": 23,
        "description": "Alert parcels without tracking progress (ticket and apology)",
    },
]
