"""The automations capability as a plugin: rules, the event consumer, core actions, the retry job."""

from __future__ import annotations

from pathlib import Path

from .. import hookimpl
from .models import MODELS

requires = ("core.auth", "core.events", "core.entities", "core.webhooks")

RETRY_INTERVAL_SECONDS = 15


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_blueprints():
    from .api import blp

    return [blp]


@hookimpl
def crm_event(event):
    """Evaluate the rules triggered by this event and run their actions."""
    from .engine import process_event

    process_event(event)


@hookimpl
def crm_actions():
    from .actions import CORE_ACTIONS

    return CORE_ACTIONS


@hookimpl
def crm_jobs():
    from .engine import retry_due

    return [
        {
            "id": "core.automations:retry",
            "func": retry_due,
            "trigger": "interval",
            "seconds": RETRY_INTERVAL_SECONDS,
            "description": "Retry automation actions that failed.",
        }
    ]
