"""The automations capability as a plugin: rules, the event consumer, core actions, the retry job."""

from __future__ import annotations

from pathlib import Path

from .. import hookimpl
from ..db import utcnow
from .actions import CORE_ACTIONS
from .engine import process_event, retry_due
from .models import LOOP_STOPPED, MODELS, SKIPPED, AutomationRun

requires = ("core.auth", "core.events", "core.entities", "core.webhooks")

RETRY_INTERVAL_SECONDS = 15
LOG_RETENTION_DAYS = 30


def prune_runs() -> int:
    """Delete runs that did nothing (skipped, loop stopped) older than 30 days; runs that acted
    or failed are kept. Returns how many went."""
    import datetime as dt

    cutoff = utcnow() - dt.timedelta(days=LOG_RETENTION_DAYS)
    return (
        AutomationRun.delete()
        .where(AutomationRun.created_at < cutoff, AutomationRun.status.in_([SKIPPED, LOOP_STOPPED]))
        .execute()
    )


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_event(event):
    """Evaluate the rules triggered by this event and run their actions."""
    process_event(event)


@hookimpl
def crm_actions():
    return CORE_ACTIONS


@hookimpl
def crm_jobs():
    return [
        {
            "id": "core.automations:retry",
            "func": retry_due,
            "trigger": "interval",
            "seconds": RETRY_INTERVAL_SECONDS,
            "description": "Retry automation actions that failed.",
        },
        {
            "id": "core.automations:prune",
            "func": prune_runs,
            "trigger": "cron",
            "hour": 3,
            "minute": 37,
            "description": "Delete automation runs that did nothing, after 30 days.",
        },
    ]
