"""The audit capability as a plugin: the entry table, the write observer, API, CLI and jobs."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app

from .. import hookimpl
from . import purge, record_change, seal, verify
from .models import MODELS

requires = ("core.auth", "core.permissions")


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_record_written(change):
    """Append the audit entry of every write, inside the write's transaction."""
    record_change(change)


def _seal_job():
    seal()


def _purge_job():
    purge(current_app.config["AUDIT_RETENTION_DAYS"])


@hookimpl
def crm_jobs():
    return [
        {
            "id": "audit:seal",
            "func": _seal_job,
            "trigger": "interval",
            "seconds": 5,
            "description": "Give new audit entries their place in the hash chain",
        },
        {
            "id": "audit:purge",
            "func": _purge_job,
            "trigger": "cron",
            "hour": 3,
            "minute": 17,
            "description": "Delete audit entries older than AUDIT_RETENTION_DAYS, leaving an anchor",
        },
    ]


@hookimpl
def crm_cli(group):
    @group.group("audit")
    def audit_group():
        """The tamper-evident audit log: seal, verify, purge."""

    @audit_group.command("seal")
    def seal_command():
        """Give unsealed entries their place in the hash chain."""
        click.echo(f"sealed {seal()} entries")

    @audit_group.command("verify")
    def verify_command():
        """Seal, then check the whole chain; exit status 1 naming the first bad entry."""
        seal()
        result = verify()
        click.echo(result.describe())
        if not result.ok:
            sys.exit(1)

    @audit_group.command("purge")
    @click.option(
        "--days", type=click.IntRange(365, 3650), default=None, help="Retention (default: setting)."
    )
    def purge_command(days):
        """Delete entries older than the retention, leaving an anchor entry."""
        days = days or current_app.config["AUDIT_RETENTION_DAYS"]
        click.echo(f"purged {purge(days)} entries older than {days} days")
