"""The audit capability as a plugin: the entry table, the write observer, API, CLI, the sealing
job and the retention policy (``AUDIT_RETENTION_DAYS``, purged by ``core:retention``)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from flask import current_app

from .. import hookimpl
from ..crypto.rotation import SealedValues
from . import purge, record_change, record_changes, seal, verify
from .models import MODELS, AuditEntry

requires = ("core.auth", "core.permissions")


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_record_written(change):
    """Append the audit entry of every write, inside the write's transaction (sent with its next
    statement: the write path never reads the entry back)."""
    record_change(change, defer=True)


@hookimpl
def crm_records_written(changes):
    """The audit entries of a batch of writes: one each, in one multi-row insert."""
    record_changes(changes)


def _seal_job():
    seal()


def _purge_before(cutoff):
    """The audit log's retention purge (``core:retention``): through the chain's own ``purge``,
    which leaves an anchor entry so the rest still verifies. It counts days back from a moment,
    so it is given the moment that puts its cutoff at ``cutoff``."""
    days = current_app.config["AUDIT_RETENTION_DAYS"]
    return purge(days, now=cutoff + dt.timedelta(days=days))


@hookimpl
def crm_retention_policies():
    return [
        {
            "name": "audit",
            "model": AuditEntry,
            "field": AuditEntry.occurred_at,
            "where": AuditEntry.seq.is_null(False),  # only sealed entries are purged
            "setting": "AUDIT_RETENTION_DAYS",
            "default_days": 365 * 3,
            "min_days": 365,  # as the setting's own check at startup (crm_core.config)
            "max_days": 3650,
            "purge": _purge_before,
        }
    ]


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
    ]


@hookimpl
def crm_cli(group):
    @group.group("audit")
    def audit_group():
        """The tamper-evident audit log: seal, verify, purge (daily by ``core:retention``)."""

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


@hookimpl
def crm_sealed_values():
    """Audit images keep the tokens of encrypted fields as they were written: history copies,
    counted before a key is retired and never rewritten (the chain hashes them)."""
    return [
        SealedValues("audit.before", AuditEntry, AuditEntry.before, history=True),
        SealedValues("audit.after", AuditEntry, AuditEntry.after, history=True),
    ]
