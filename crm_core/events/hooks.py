"""The events capability as a plugin: outbox tables, the write-path observer, the dispatcher job,
``crm events`` commands and the ``/api/v1/events`` admin view."""

from __future__ import annotations

from pathlib import Path

import click
import peewee as pw
from flask.cli import with_appcontext
from flask_babel import lazy_gettext as _l

from .. import hookimpl
from ..crypto.rotation import SealedValues
from .dispatcher import dispatch_pending
from .emitter import emit_deferred, emit_many
from .models import DONE, MODELS, ConsumerProgress, OutboxEvent

# How often the scheduler runs the dispatcher (seconds).
DISPATCH_INTERVAL_SECONDS = 2
# Columns whose change alone makes no ``<noun>.updated`` event.
BOOKKEEPING = ("updated_at",)


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_permissions():
    return [{"resource": "events", "actions": ["read", "retry"], "label": _l("Domain events (outbox)")}]


@hookimpl
def crm_record_written(change):
    """Write ``<noun>.created|updated|deleted`` for every write of the core write path, except
    where the writer emits a domain event of its own for it (``extra={"event": False}``, e.g. the
    loyalty ledger's ``points.earned``): one write, one event."""
    event = _event_of(change)
    if event is not None:
        emit_deferred(**event)  # (the write path never reads its event back)


@hookimpl
def crm_records_written(changes):
    """The events of a batch of writes (as ``crm_record_written``'s), in one multi-row insert."""
    emit_many([e for e in (_event_of(change) for change in changes) if e is not None])


def _event_of(change) -> dict | None:
    """``emit``'s arguments for the event of one write; None when it has none."""
    if change.extra.get("event") is False:
        return None
    # the timestamp moves on every save: it is not a change anyone reacts to
    changed = [name for name in change.changed if name not in BOOKKEEPING]
    if change.action == "update" and not changed:
        return None  # nothing changed: no event
    obj = change.after if change.after is not None else change.before
    data = {"resource": change.resource, "id": change.record_id, "object": obj}
    if change.action == "update":
        before = change.before or {}
        data["changed"] = changed
        data["previous"] = {name: before.get(name) for name in changed}
    return {
        "event_type": change.event_type,
        "data": data,
        "actor": change.actor,
        "resource": change.resource,
        "record_id": change.record_id,
    }


@hookimpl
def crm_jobs():
    return [
        {
            "id": "core.events:dispatch",
            "func": dispatch_pending,
            "trigger": "interval",
            "seconds": DISPATCH_INTERVAL_SECONDS,
            "description": "Deliver committed events to crm_event hooks, automation rules and webhooks.",
        }
    ]


@hookimpl
def crm_retention_policies():
    # only dispatched events age: a pending or dead one is still work (retry, inspection)
    return [
        {
            "name": "outbox",
            "model": OutboxEvent,
            "field": OutboxEvent.occurred_at,
            "where": OutboxEvent.status == DONE,
            "setting": "OUTBOX_RETENTION_DAYS",
            "default_days": 730,
        },
        {
            # on PostgreSQL the outbox is partitioned and no foreign key cascades to these rows:
            # a consumer's progress goes once its event has gone (policies run in name order,
            # so this one after "outbox")
            "name": "outbox_consumers",
            "model": ConsumerProgress,
            "field": ConsumerProgress.updated_at,
            "where": ~pw.fn.EXISTS(
                OutboxEvent.select(OutboxEvent.id).where(OutboxEvent.id == ConsumerProgress.event)
            ),
            "setting": "OUTBOX_RETENTION_DAYS",
            "default_days": 730,
        },
    ]


@hookimpl
def crm_cli(group):
    @group.group("events")
    def events_group():
        """Domain events: dispatch the outbox, list recent events."""

    @events_group.command("dispatch")
    @click.option("--limit", type=int, default=None, help="Stop after this many events.")
    @with_appcontext
    def dispatch_command(limit):
        """Deliver every due event now (normally the scheduler does this)."""
        click.echo(f"dispatched {dispatch_pending(limit=limit)} event(s)")

    @events_group.command("list")
    @click.option("--status", type=click.Choice(["pending", "done", "dead"]), default=None)
    @click.option("--limit", type=int, default=20, show_default=True)
    @with_appcontext
    def list_command(status, limit):
        """Show the most recent events (newest first)."""
        query = OutboxEvent.select().order_by(OutboxEvent.id.desc()).limit(limit)
        if status:
            query = query.where(OutboxEvent.status == status)
        for row in query:
            error = f"  {row.last_error}" if row.last_error else ""
            click.echo(f"{row.id:>8} {row.uid} {row.type:<30} {row.status:<8} attempts={row.attempts}{error}")


@hookimpl
def crm_sealed_values():
    """Event payloads carry the tokens of the records they describe: history copies."""
    return [SealedValues("outbox", OutboxEvent, pw.Cast(OutboxEvent.data, "text"), history=True)]
