"""Encryption at rest as a core capability: the key ring tables, ``crm keys`` and the
re-encryption job."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from .. import hookimpl
from . import keyring, rotation
from .models import MODELS, DataKey

#: Values one run of ``core:reencrypt`` moves at most (the next run goes on).
REENCRYPT_PER_RUN = 20_000


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


def _reencrypt_job(ctx):
    """Move values of older keys to the active key, a bounded amount per run (the next run goes
    on), so the job never holds the scheduler for long."""
    done = rotation.reencrypt(limit=REENCRYPT_PER_RUN)
    if any(done.as_dict().values()):
        ctx.log.info("re-encryption: %s", done.as_dict())
    return done.as_dict()


@hookimpl
def crm_jobs():
    return [
        {
            "id": "core:reencrypt",
            "func": _reencrypt_job,
            "trigger": "interval",
            "minutes": 5,
            "description": "Re-encrypt values of rotated-out data keys under the active key",
        }
    ]


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@hookimpl
def crm_cli(group):
    @group.group("keys")
    def keys():
        """The encryption key ring: status, rotation, re-encryption, retirement."""

    @keys.command("status")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @with_appcontext
    def status_command(as_json):
        """List the data keys: cipher, state, wrapper and how many values each still protects."""
        rows = list(DataKey.select().order_by(DataKey.id))
        live, history = rotation.usage(), rotation.usage(history=True)
        report = [
            {
                "key_id": key.key_id,
                "cipher": key.cipher,
                "state": key.state,
                "wrapper": key.wrapper,
                "created_at": key.created_at.isoformat(timespec="seconds"),
                "values": sum(live.get(key.key_id, {}).values()),
                "by_store": live.get(key.key_id, {}),
                "history_copies": history.get(key.key_id, {}),
            }
            for key in rows
        ]
        if as_json:
            click.echo(json.dumps(report, ensure_ascii=False, indent=2))
            return
        if not rows:
            click.echo("no data key yet (the first is made when a value is first encrypted)")
        for item in report:
            stores = ", ".join(f"{k}={v}" for k, v in item["by_store"].items()) or "-"
            copies = sum(item["history_copies"].values())
            click.echo(
                f"{item['key_id']}\t{item['cipher']}\t{item['state']}\t{item['wrapper']}\t"
                f"{item['values']} values ({stores})\t{copies} history copies"
            )

    @keys.command("rotate")
    @click.option("--cipher", type=click.Choice(["AES-256-GCM", "SM4-GCM"]), default=None)
    @with_appcontext
    def rotate_command(cipher):
        """Add a data key and make it the one new values use (then: crm keys reencrypt)."""
        try:
            key = keyring.add_key(cipher)
        except keyring.KeyRingError as exc:
            raise _fail(exc) from None
        click.echo(f"{key.key_id} ({key.cipher}) is now the active key")

    @keys.command("rewrap")
    @with_appcontext
    def rewrap_command():
        """Finish a master key rotation: wrap every key still under ENCRYPTION_MASTER_KEY_PREVIOUS
        with the current master key."""
        try:
            count = keyring.rewrap()
        except keyring.KeyRingError as exc:
            raise _fail(exc) from None
        click.echo(f"{count} keys rewrapped: ENCRYPTION_MASTER_KEY_PREVIOUS can now be removed")

    @keys.command("reencrypt")
    @click.option("--batch", type=click.IntRange(1, 100_000), default=500, show_default=True)
    @click.option("--limit", type=click.IntRange(1), default=None, help="Stop after this many values.")
    @with_appcontext
    def reencrypt_command(batch, limit):
        """Rewrite the values of older keys under the active key, in batches (safe to stop and rerun)."""

        def report(store, progress):
            click.echo(f"{store}: {progress.as_dict()}", err=True)

        done = rotation.reencrypt(batch=batch, limit=limit, report=report)
        click.echo(json.dumps(done.as_dict()))

    @keys.command("retire")
    @click.argument("key_id")
    @click.option("--force", is_flag=True, help="Also when audit or outbox history still holds its copies.")
    @with_appcontext
    def retire_command(key_id, force):
        """Delete a rotated-out key's material: refused while any value still needs it."""
        try:
            lost = rotation.retire_key(key_id, force=force)
        except keyring.KeyRingError as exc:
            raise _fail(exc) from None
        suffix = f"; history copies now unreadable: {lost}" if lost else ""
        click.echo(f"{key_id} retired{suffix}")
