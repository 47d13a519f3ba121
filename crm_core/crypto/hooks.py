"""Encryption at rest as a core capability: the key ring tables and ``crm keys``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from .. import hookimpl
from . import keyring
from .models import MODELS, DataKey


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_cli(group):
    @group.group("keys")
    def keys():
        """The encryption key ring: status and rotation."""

    @keys.command("status")
    @with_appcontext
    def status_command():
        """List the data keys, their cipher and state."""
        rows = list(DataKey.select().order_by(DataKey.id))
        if not rows:
            click.echo("no data key yet (the first is made when a value is first encrypted)")
        for key in rows:
            click.echo(f"{key.key_id}\t{key.cipher}\t{key.state}\t{key.created_at:%Y-%m-%d %H:%M}")

    @keys.command("rotate")
    @click.option("--cipher", type=click.Choice(["AES-256-GCM", "SM4-GCM"]), default=None)
    @with_appcontext
    def rotate_command(cipher):
        """Add a data key and make it the one new values use."""
        try:
            key = keyring.add_key(cipher)
        except keyring.KeyRingError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{key.key_id} ({key.cipher}) is now the active key")
