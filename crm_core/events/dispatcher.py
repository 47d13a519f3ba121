"""Delivering committed events to every ``crm_event`` hook, once each.

Rows are claimed inside a transaction: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (so several
dispatchers share the work without taking the same event), ``BEGIN IMMEDIATE`` on SQLite (one
writer at a time). Each consumer runs inside a savepoint of that transaction, so its database
writes and the event's "done" mark commit together: a crash anywhere before commit rolls both
back and the event is delivered again on the next run; an event that is in the outbox was
committed, so only committed events are ever delivered.

A consumer that raises has its savepoint rolled back; the others keep their results, the event is
retried later (exponential backoff) and only the failed consumers are called again. After
``MAX_ATTEMPTS`` the event is marked ``dead`` and can be retried by an admin.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging

from flask import current_app

from ..db import database, is_postgres, utcnow
from .emitter import Event, caused_by
from .models import DEAD, DONE, PENDING, ConsumerProgress, OutboxEvent
from .retry import backoff_delay

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BATCH_SIZE = 100

_batch_cache: contextvars.ContextVar[dict | None] = contextvars.ContextVar("crm_dispatch_batch", default=None)


def dispatch_cache() -> dict | None:
    """A dict that lives for one dispatcher batch (None outside the dispatcher).

    Consumers keep per-batch lookups in it (the active webhook subscriptions, the active rules)
    instead of querying them again for every event of the batch.
    """
    return _batch_cache.get()


def _consumers(plugins=None) -> list[tuple[str, object]]:
    """``[(plugin name, function)]`` of every ``crm_event`` implementation, in registration order."""
    return (plugins or current_app.extensions["crm"].plugins).per_plugin("crm_event")


def _claim_transaction():
    # SQLite: take the write lock up front; a deferred transaction that reads then writes fails
    # with SQLITE_BUSY when another connection wrote in between.
    return database.atomic() if is_postgres() else database.atomic("IMMEDIATE")


def dispatch_pending(limit: int | None = None, batch_size: int = BATCH_SIZE, plugins=None) -> int:
    """Deliver every event that is due; returns how many events were handled.

    Loops over batches until no event is due (events emitted by consumers are delivered in the
    same call) or ``limit`` events were handled. Needs an app context (for the plugin manager)
    unless ``plugins`` is given.
    """
    consumers = _consumers(plugins)
    total = 0
    while limit is None or total < limit:
        size = batch_size if limit is None else min(batch_size, limit - total)
        handled = _dispatch_batch(consumers, size)
        total += handled
        if handled == 0:
            break
    return total


def _dispatch_batch(consumers, size: int) -> int:
    with _claim_transaction():
        query = (
            OutboxEvent.select()
            .where(OutboxEvent.status == PENDING, OutboxEvent.next_attempt_at <= utcnow())
            .order_by(OutboxEvent.id)
            .limit(size)
        )
        if is_postgres():
            query = query.for_update(skip_locked=True)
        rows = list(query)
        done_ids = []
        token = _batch_cache.set({})
        try:
            for row in rows:
                if _dispatch_one(row, consumers):
                    done_ids.append(row.id)
        finally:
            _batch_cache.reset(token)
        if done_ids:
            OutboxEvent.update(status=DONE, dispatched_at=utcnow(), last_error=None).where(
                OutboxEvent.id.in_(done_ids)
            ).execute()
    return len(rows)


def _dispatch_one(row: OutboxEvent, consumers) -> bool:
    """Call each consumer not yet done for ``row``; True when all succeeded."""
    event = Event.from_row(row)
    done: set[str] = set()
    if row.attempts:
        done = {
            p.consumer
            for p in ConsumerProgress.select(ConsumerProgress.consumer).where(
                ConsumerProgress.event == row.id, ConsumerProgress.status == DONE
            )
        }
    succeeded, failed = [], {}
    for name, function in consumers:
        if name in done:
            continue
        try:
            with database.atomic(), caused_by(event):
                function(event=event)
        except Exception as exc:  # a consumer's bug must not stop the others
            log.exception("crm_event consumer %s failed on %s %s", name, event.type, event.id)
            failed[name] = f"{type(exc).__name__}: {exc}"[:2000]
        else:
            succeeded.append(name)
    if not failed:
        if row.attempts:  # a retry: show that the consumers that had failed are now done
            _record_progress(row.id, succeeded, {}, utcnow())
        return True
    now = utcnow()
    _record_progress(row.id, succeeded, failed, now)
    row.attempts += 1
    row.last_error = "; ".join(f"{name}: {error}" for name, error in failed.items())[:4000]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = DEAD
        log.error(
            "event %s %s gave up after %d attempts: %s", event.type, event.id, row.attempts, row.last_error
        )
    else:
        row.next_attempt_at = now + dt.timedelta(seconds=backoff_delay(row.attempts))
    row.save(
        only=[OutboxEvent.attempts, OutboxEvent.last_error, OutboxEvent.status, OutboxEvent.next_attempt_at]
    )
    return False


def _record_progress(event_id: int, succeeded: list[str], failed: dict[str, str], now: dt.datetime) -> None:
    for name in succeeded:
        ConsumerProgress.insert(
            event=event_id, consumer=name, status=DONE, attempts=1, last_error=None, updated_at=now
        ).on_conflict(
            conflict_target=[ConsumerProgress.event, ConsumerProgress.consumer],
            update={
                ConsumerProgress.status: DONE,
                ConsumerProgress.attempts: ConsumerProgress.attempts + 1,
                ConsumerProgress.last_error: None,
                ConsumerProgress.updated_at: now,
            },
        ).execute()
    for name, error in failed.items():
        ConsumerProgress.insert(
            event=event_id, consumer=name, status="failed", attempts=1, last_error=error, updated_at=now
        ).on_conflict(
            conflict_target=[ConsumerProgress.event, ConsumerProgress.consumer],
            update={
                ConsumerProgress.status: "failed",
                ConsumerProgress.attempts: ConsumerProgress.attempts + 1,
                ConsumerProgress.last_error: error,
                ConsumerProgress.updated_at: now,
            },
        ).execute()


def retry_event(event_id: int) -> OutboxEvent | None:
    """Put a ``dead`` (or failing) event back in the queue now, keeping consumer progress;
    returns the row, or None if there is no such event."""
    row = OutboxEvent.get_or_none(OutboxEvent.id == event_id)
    if row is None:
        return None
    if row.status != DONE:
        row.status = PENDING
        row.attempts = min(row.attempts, MAX_ATTEMPTS - 1) if row.attempts else 0
        row.next_attempt_at = utcnow()
        row.save(only=[OutboxEvent.status, OutboxEvent.attempts, OutboxEvent.next_attempt_at])
    return row
