"""The plugin's hook implementations: models, migrations, permissions, API, redirects, events,
jobs, CLI and privacy export/erasure."""

from __future__ import annotations

from pathlib import Path

from crm_core import hookimpl

from .models import MODELS

requires = ("core.auth",)

PERMISSIONS = [
    {
        "resource": "channel_tracking.channels",
        "actions": ["read", "create", "update", "delete"],
        "label": "Channels",
    },
    {
        "resource": "channel_tracking.campaigns",
        "actions": ["read", "create", "update", "delete"],
        "label": "Campaigns, budgets and spend",
    },
    {
        "resource": "channel_tracking.links",
        "actions": ["read", "create", "delete"],
        "label": "Tracking links",
    },
    {"resource": "channel_tracking.keys", "actions": ["read", "create", "delete"], "label": "Ingestion keys"},
    {"resource": "channel_tracking.touchpoints", "actions": ["read"], "label": "Touchpoints and sessions"},
    {"resource": "channel_tracking.conversions", "actions": ["read", "create"], "label": "Conversions"},
    {"resource": "channel_tracking.reports", "actions": ["read"], "label": "Channel reports and funnels"},
]


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
    return []


@hookimpl
def crm_web_blueprints():
    return []


@hookimpl
def crm_startup(app):
    return None


@hookimpl
def crm_event(event):
    return None


@hookimpl
def crm_jobs():
    return []


@hookimpl
def crm_cli(group):
    return None


@hookimpl
def crm_export_customer(customer):
    return None


@hookimpl
def crm_erase_customer(customer):
    return None
