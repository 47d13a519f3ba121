"""The plugin's hook implementations: settings, models, migrations, permissions, API, redirects, events,
jobs, CLI, privacy export/erasure, and the workbench (screens, menu entries, translations, demo
data)."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask_babel import lazy_gettext as _l

from crm_core import hookimpl

from .models import MODELS
from .settings import SETTINGS

log = logging.getLogger(__name__)

# conversions recorded through the API check that the actor can read the customer they name
requires = ("core.auth", "core.entities")

PERMISSIONS = [
    {
        "resource": "channel_tracking.channels",
        "actions": ["read", "create", "update", "delete"],
        "label": _l("Channel tracking: channels"),
    },
    {
        "resource": "channel_tracking.campaigns",
        "actions": ["read", "create", "update", "delete"],
        "label": _l("Channel tracking: campaigns, budgets and spend"),
    },
    {
        "resource": "channel_tracking.links",
        "actions": ["read", "create", "delete"],
        "label": _l("Channel tracking: tracking links and QR codes"),
    },
    {
        "resource": "channel_tracking.keys",
        "actions": ["read", "create", "delete"],
        "label": _l("Channel tracking: ingestion keys"),
    },
    {
        "resource": "channel_tracking.touchpoints",
        "actions": ["read"],
        "label": _l("Channel tracking: touchpoints and sessions"),
    },
    {
        "resource": "channel_tracking.conversions",
        "actions": ["read", "create"],
        "label": _l("Channel tracking: conversions"),
    },
    {
        "resource": "channel_tracking.reports",
        "actions": ["read"],
        "label": _l("Channel tracking: reports, attribution and funnels"),
    },
]


@hookimpl
def crm_settings():
    return SETTINGS


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_permissions():
    return PERMISSIONS


@hookimpl
def crm_blueprints():
    from .api import blp, track_blp

    return [track_blp, blp]


@hookimpl
def crm_web_blueprints():
    """The short-link redirect ``/t/<code>`` and the workbench screens under ``/channel-tracking``."""
    from .pages import bp
    from .web import web_blp

    return [web_blp, bp]


NAV = [
    {
        "label": _l("Campaigns"),
        "endpoint": "channel_tracking_web.campaigns",
        "permission": "channel_tracking.campaigns:read",
        "order": 65,
    },
    {
        "label": _l("Channel analytics"),
        "endpoint": "channel_tracking_web.roi",
        "permission": ["channel_tracking.reports:read"],
        "order": 66,
    },
    {
        "label": _l("Touchpoints"),
        "endpoint": "channel_tracking_web.touchpoints",
        "permission": "channel_tracking.touchpoints:read",
        "order": 67,
    },
]


@hookimpl
def crm_nav():
    """Menu entries of the plugin's screens, each shown only to users holding its permission."""
    return NAV


@hookimpl
def crm_translations():
    """The plugin's own catalogue (its screens, labels and messages)."""
    return [str(Path(__file__).parent / "translations")]


@hookimpl
def crm_demo_data(context):
    """Demo campaigns with budgets and spend, links, touchpoints over the last weeks and
    conversions of the demo customers (see :mod:`.demo`)."""
    from .demo import add_demo_data

    add_demo_data(context)


@hookimpl
def crm_startup(app):
    """Document the ingestion key as its own security scheme in the OpenAPI document."""
    api = app.extensions["crm"].api
    if api is not None and "trackingKey" not in api.spec.components.security_schemes:
        api.spec.components.security_scheme(
            "trackingKey", {"type": "apiKey", "in": "header", "name": "X-Tracking-Key"}
        )


@hookimpl
def crm_event(event):
    """Attribute ``order.paid`` events (idempotent on the order id)."""
    if event.type != "order.paid":
        return
    from .conversions import from_order_paid

    if from_order_paid(event) is None:
        log.warning("order.paid %s lacks order_id, customer_id or amount; not attributed", event.id)


#: a month of CHANNEL_TRACKING_RETENTION_MONTHS counts as 31 days: no touchpoint goes before the
#: months promised
DAYS_PER_MONTH = 31


@hookimpl
def crm_retention_policies():
    """Touchpoints age by ``occurred_at``: on PostgreSQL the core drops whole monthly partitions
    older than the cutoff (the table is range-partitioned on it) and deletes the rest in batches."""
    from .models import Touchpoint
    from .settings import setting

    return [
        {
            "name": "channel_tracking.touchpoints",
            "model": Touchpoint,
            "field": Touchpoint.occurred_at,
            "default_days": DAYS_PER_MONTH * int(setting("RETENTION_MONTHS")),
        }
    ]


@hookimpl
def crm_cli(group):
    from flask.cli import with_appcontext

    @group.group("channel-tracking")
    def channel_tracking():
        """Channel tracking: ingestion keys."""

    @channel_tracking.command("create-key")
    @click.argument("name")
    @with_appcontext
    def create_key_command(name):
        """Create a write-only ingestion key and print it (shown once)."""
        from crm_core.plugin_api import database

        from .keys import create_key

        with database.atomic():
            raw, row = create_key(name)
        click.echo(f"ingestion key {row.id} ({name}): {raw}")


@hookimpl
def crm_export_customer(customer):
    """The customer's stitched visitor ids, touchpoints and conversions."""
    from .models import Conversion, Identity, Touchpoint

    subject = f"c:{customer.id}"
    return {
        "visitor_ids": [i.visitor_id for i in Identity.select().where(Identity.customer_id == customer.id)],
        "touchpoints": list(
            Touchpoint.select(
                Touchpoint.event_type,
                Touchpoint.occurred_at,
                Touchpoint.channel_group,
                Touchpoint.utm_source,
                Touchpoint.utm_medium,
                Touchpoint.utm_campaign,
                Touchpoint.referrer,
                Touchpoint.url,
            )
            .where(Touchpoint.subject == subject)
            .order_by(Touchpoint.occurred_at)
            .dicts()
        ),
        "conversions": list(
            Conversion.select(
                Conversion.order_ref, Conversion.revenue, Conversion.currency, Conversion.occurred_at
            )
            .where(Conversion.subject == subject)
            .dicts()
        ),
    }


@hookimpl
def crm_erase_customer(customer):
    """Delete the customer's touchpoints and identities; keep conversions (revenue reports) with
    the person removed."""
    from .models import Conversion, Identity, Touchpoint

    subject = f"c:{customer.id}"
    Touchpoint.delete().where(Touchpoint.subject == subject).execute()
    Identity.delete().where(Identity.customer_id == customer.id).execute()
    Conversion.update(subject="erased", customer_id=None, visitor_id=None).where(
        Conversion.subject == subject
    ).execute()
