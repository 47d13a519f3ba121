"""The plugin's scheduled jobs: the webhook inbox and the reconciliation of recent orders."""

from __future__ import annotations

from . import flash, inbox, portraits, recall, shipments, sync


def process_inbox(ctx):
    """Apply the verified webhook deliveries waiting in the inbox."""
    return inbox.process(ctx.actor)


def reconcile(ctx):
    """Re-read the orders each shop changed since its watermark (minus an overlap) and apply them."""
    return sync.reconcile_all(ctx.actor, ctx.now)


def stuck_shipments(ctx):
    """Open a ticket and send the apology for parcels without progress for too long."""
    return shipments.alert_stuck(ctx.actor, ctx.now)


def recall_due(ctx):
    """Finish the recall runs that are due: exit, or issue the coupon and send the message."""
    return recall.run_due(ctx.actor, ctx.now)


def flash_expire(ctx):
    """Mark the flash-sale holds whose time is up (availability ignores them already)."""
    return {"expired": flash.expire(ctx.now)}


def portraits_dirty(ctx):
    """Rebuild the portraits (RFM, rule tags) that order, tier and touchpoint events marked."""
    return portraits.refresh_dirty(ctx.actor, ctx.now)


def portraits_all(ctx):
    """Rebuild every portrait (recency moves with the calendar; changed rules reach everyone)."""
    return portraits.refresh_all(ctx.actor, ctx.now)


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
        "id": "ecommerce:recall",
        "func": recall_due,
        "trigger": "interval",
        "minutes": 1,
        "description": "Send the recall messages that are due (abandoned carts, dwell without order)",
    },
    {
        "id": "ecommerce:flash_expire",
        "func": flash_expire,
        "trigger": "interval",
        "minutes": 1,
        "description": "Expire flash-sale reservations whose hold time is up",
    },
    {
        "id": "ecommerce:portraits",
        "func": portraits_dirty,
        "trigger": "interval",
        "minutes": 1,
        "description": "Rebuild customer portraits and rule tags changed by recent events",
    },
    {
        "id": "ecommerce:portraits_all",
        "func": portraits_all,
        "trigger": "cron",
        "hour": 3,
        "minute": 41,
        "description": "Rebuild every customer portrait and re-apply the tag rules",
    },
    {
        "id": "ecommerce:stuck_shipments",
        "func": stuck_shipments,
        "trigger": "cron",
        "minute": 23,
        "description": "Alert parcels without tracking progress (ticket and apology)",
    },
]
