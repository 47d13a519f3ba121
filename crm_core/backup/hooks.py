"""Backups as a core capability: the commands ``crm backup <file>`` and ``crm restore <file>``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from .. import hookimpl
from . import KEEP_APART, BackupError, create_backup, read_manifest, restore_backup


def _migration_count(manifest: dict) -> int:
    return sum(len(names) for names in (manifest.get("migrations") or {}).values())


@hookimpl
def crm_cli(group):
    @group.command("backup")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @with_appcontext
    def backup_command(file):
        """Back the whole database up into FILE, consistent while the app keeps running."""
        try:
            manifest = create_backup(file)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        head = manifest["audit_head"] or {}
        click.echo(
            f"backup of the {manifest['backend']} database written to {file} "
            f"({_migration_count(manifest)} migrations applied, audit head seq {head.get('seq', 0)})"
        )
        click.echo("Not in the backup, keep them with it:")
        for item in KEEP_APART:
            click.echo(f"  - {item}")

    @group.command("restore")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--yes", is_flag=True, help="Confirm: every table of the database is replaced.")
    @with_appcontext
    def restore_command(file, yes):
        """Replace the database with the backup FILE, migrate it, erase again the customers erased
        since, and verify the audit chain (stop the app and its scheduler first)."""
        try:
            manifest = read_manifest(file)
            if not yes:
                raise BackupError(
                    f"restoring replaces every table of the database with this backup of "
                    f"{manifest['created_at']} (UTC): stop the app, then add --yes to confirm"
                )
            report = restore_backup(file)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"restored the {manifest['backend']} backup of {manifest['created_at']} (UTC) from {file}")
        for table, names in report.migrated.items():
            click.echo(f"migrated {table}: {', '.join(names)}")
        for customer_id, outcome in report.erasures.items():
            click.echo(f"customer {customer_id}, erased since the backup: {outcome}")
        click.echo(report.audit.describe())
        if not report.audit.ok or any(o.startswith("NOT") for o in report.erasures.values()):
            sys.exit(1)
