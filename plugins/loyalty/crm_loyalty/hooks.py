"""The loyalty plugin's hook implementations (registered through the ``crm_core`` entry point)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from crm_core import hookimpl

from . import jobs, listeners, privacy
from .models import MODELS

# the tables this plugin's views and handlers rely on: grants, records' write path, the outbox,
# and the customers members refer to (a foreign key: the customer table must be migrated first)
requires = ("core.auth", "core.permissions", "core.records", "core.events", "core.entities")


@hookimpl
def crm_models():
    """The loyalty_* tables."""
    return MODELS


@hookimpl
def crm_migrations():
    """The plugin's own migration history (``crm_migrations_loyalty``)."""
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_blueprints():
    """The API under /api/v1/loyalty."""
    from .api import blp

    return [blp]


@hookimpl
def crm_permissions():
    """Resources and actions roles can be granted (labels in the user's language)."""
    from flask_babel import lazy_gettext as _l

    return [
        {
            "resource": "loyalty.members",
            "actions": ["read", "create", "update", "delete", "export"],
            "label": _l("Loyalty members"),
        },
        {
            "resource": "loyalty.points",
            "actions": ["read", "redeem", "adjust"],
            "label": _l("Loyalty points"),
        },
        {
            "resource": "loyalty.tiers",
            "actions": ["read", "create", "update", "delete"],
            "label": _l("Loyalty tiers"),
        },
        {
            "resource": "loyalty.rules",
            "actions": ["read", "create", "update", "delete"],
            "label": _l("Earning rules"),
        },
        {
            "resource": "loyalty.program",
            "actions": ["read", "update"],
            "label": _l("Loyalty programme settings"),
        },
        # read: the core requires it beside every action (a grant of create alone allows nothing)
        {
            "resource": "loyalty.activities",
            "actions": ["read", "create"],
            "label": _l("Qualifying activities"),
        },
    ]


@hookimpl
def crm_event(event):
    """``order.paid`` earns points, ``order.refunded`` reverses them."""
    if event.type == "order.paid":
        listeners.on_order_paid(event)
    elif event.type == "order.refunded":
        listeners.on_order_refunded(event)


def _as_of_the_run(func):
    """The job ``func(now)`` as a job of the core's scheduler: run as of the context's clock
    (so ``crm jobs run loyalty:expire_points --at ...`` back-fills)."""

    def run(ctx):
        return func(ctx.now)

    run.__doc__ = func.__doc__
    return run


@hookimpl
def crm_jobs():
    """Tier evaluation, expiry, activation of pending points, expiry reminders."""
    return [
        {
            "id": f"loyalty:{name}",
            "func": _as_of_the_run(func),
            "description": str(jobs.DESCRIPTIONS[name]),
            **trigger,
        }
        for name, (func, trigger) in jobs.JOBS.items()
    ]


@hookimpl
def crm_web_blueprints():
    """The workbench screens under /loyalty (members, tiers, rules, programme) and the customer
    360 panel's template."""
    from .web import blp

    return [blp]


@hookimpl
def crm_nav():
    """The loyalty menu entry and the panel on the customer 360 page."""
    from .web import NAV

    return NAV


@hookimpl
def crm_translations():
    """The plugin's own catalogue (its pages, messages and permission labels in Chinese)."""
    return [str(Path(__file__).parent / "translations")]


@hookimpl
def crm_demo_data(context):
    """Tiers named in the demo's language, earning rules, and members with ledgers (earnings,
    redemptions, expired points) for the demo customers, through the plugin's services."""
    from .demo import add_demo_data

    add_demo_data(context)


@hookimpl
def crm_export_customer(customer):
    """Everything the programme stores about the customer."""
    return privacy.export_customer(customer)


@hookimpl
def crm_erase_customer(customer):
    """Delete the customer's membership, ledger and history."""
    privacy.erase_customer(customer)


@hookimpl
def crm_cli(group):
    """``crm loyalty <job> [--at TIME]``: run a scheduled job now, or as of a given UTC time."""

    @group.group("loyalty")
    def loyalty():
        """Loyalty programme jobs."""

    for name, (func, _trigger) in jobs.JOBS.items():
        loyalty.command(name.replace("_", "-"), help=func.__doc__.split("\n")[0])(_job_command(func))


def _job_command(func):
    from flask.cli import with_appcontext

    @click.option("--at", "at", default=None, help="Run as of this UTC time (ISO 8601).")
    @with_appcontext
    @functools.wraps(func)
    def command(at):
        now = listeners.parse_time(at) if at else None
        click.echo(json.dumps(func(now), default=str))

    return command
