"""What observers (audit, outbox, webhooks, plugins) are told: ``Change``, one write, reported by
``record_written`` inside its transaction; and ``Event``, a committed domain event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, has_request_context, request

from .db import database


@dataclass
class Change:
    """One create, update or delete, passed to ``crm_record_written`` inside the transaction.

    ``before`` and ``after`` are JSON-ready dicts of the record's fields (``None`` for the side
    that does not exist); ``changed`` lists the fields whose values differ. ``resource`` is the
    permission resource name (``customers``, ``objects.course``, ``loyalty.members``).
    """

    action: str  # "create" | "update" | "delete"
    resource: str
    record_id: Any
    actor: Any = None
    before: dict | None = None
    after: dict | None = None
    record: Any = None
    request_id: str | None = None
    ip: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def changed(self) -> list[str]:
        """Names of fields whose value differs between before and after."""
        before, after = self.before or {}, self.after or {}
        return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))

    @property
    def event_type(self) -> str:
        """Domain event name: ``customers`` + ``create`` -> ``customer.created``."""
        noun = (
            self.resource[:-1] if self.resource.endswith("s") and "." not in self.resource else self.resource
        )
        if noun.endswith("ie"):
            noun = noun[:-2] + "y"  # activities -> activity, companies -> company
        past = {"create": "created", "update": "updated", "delete": "deleted"}.get(self.action, self.action)
        return f"{noun}.{past}"


def record_written(
    action: str, resource: str, record, actor, before, after, extra=None, record_id=None
) -> None:
    """Tell every ``crm_record_written`` implementation about one write (call inside the transaction).

    The one place every write is reported, so audit and outbox see them all: ``create``/``update``/
    ``delete`` call it; so do identity writes (users, roles, departments, tokens, OAuth clients:
    ``auth.record_change``), data-model writes (fields, object types: ``metadata.journal``) and
    plugin writes that are not records of their own (ledger entries, spend). Bulk writers (the
    customer import) call it once per row with ``record=None`` and ``record_id`` set. Without an
    ``actor``, the request's authenticated actor is taken. A writer that emits its own domain
    event for the write passes ``extra={"event": False}`` so the outbox gets one event, not two.
    """
    change = change_of(action, resource, record, actor, before, after, extra, record_id)
    pending = _BATCH.get()
    if pending is not None:
        pending.changes.append(change)
        return
    current_app.extensions["crm"].plugins.hook.crm_record_written(change=change)


def records_written(changes: list[Change]) -> None:
    """The batch form of :func:`record_written` (call inside the transaction): plugins that
    implement ``crm_records_written`` get the whole batch in one call (one multi-row insert of
    audit entries, one of outbox events), every other ``crm_record_written`` implementation one
    call per change, as if each had been reported alone. Build each ``Change`` with
    :func:`change_of`."""
    if not changes:
        return
    hook = current_app.extensions["crm"].plugins.hook
    whole = {id(impl.plugin) for impl in hook.crm_records_written.get_hookimpls()}
    hook.crm_records_written(changes=list(changes))
    single = hook.crm_record_written
    rest = [
        impl
        for impl in single.get_hookimpls()
        if id(impl.plugin) not in whole or impl.wrapper or impl.hookwrapper
    ]
    if any(not (impl.wrapper or impl.hookwrapper) for impl in rest):
        for change in changes:
            single._hookexec(single.name, rest, {"change": change}, False)


class Batch:
    """The writes reported while :func:`batched` is open, in order (see there)."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    @contextmanager
    def item(self) -> Iterator[None]:
        """One item of the batch in a savepoint of its own: when it raises, its writes are rolled
        back and what it reported is dropped from the batch, so the others still go in (a bulk
        action that refuses some records and applies the rest)."""
        mark = len(self.changes)
        try:
            with database.atomic():
                yield
        except BaseException:
            del self.changes[mark:]
            raise


_BATCH: ContextVar[Batch | None] = ContextVar("crm_change_batch", default=None)


@contextmanager
def batched() -> Iterator[Batch]:
    """Report the writes made inside as one batch (call inside the writes' transaction).

    Every :func:`record_written` in the block (so every ``records.service`` create, update and
    delete) is held back and, when the block ends without an error, reported in one
    :func:`records_written` call: one multi-row insert of audit entries and one of outbox events
    for the lot, still one entry and one event per write, and each other ``crm_record_written``
    implementation called once per write, in order. An observer that raises then rolls the whole
    batch back. When the block raises, nothing is reported (the transaction is rolled back with
    it). Bulk tag and assign, a segment's coupons and the demo's audited customers use it; wrap
    each item in :meth:`Batch.item` when one item may fail without the others. Nested, the inner
    block joins the outer batch.
    """
    outer = _BATCH.get()
    if outer is not None:
        yield outer
        return
    batch = Batch()
    token = _BATCH.set(batch)
    try:
        yield batch
    finally:
        _BATCH.reset(token)
    records_written(batch.changes)


def change_of(action: str, resource: str, record, actor, before, after, extra=None, record_id=None) -> Change:
    """The ``Change`` :func:`record_written` would report (for :func:`records_written`)."""
    in_request = has_request_context()
    return Change(
        action=action,
        resource=resource,
        record_id=record.get_id() if record is not None else record_id,
        actor=actor if actor is not None or not in_request else g.get("actor"),
        before=before,
        after=after,
        record=record,
        request_id=g.get("request_id") if in_request else None,
        ip=request.remote_addr if in_request else None,
        extra=dict(extra or {}),
    )


def iso(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (stored datetimes are naive UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class Event:
    """A committed domain event as consumers see it.

    ``id`` is the public id (``evt_...``, also the webhook ``webhook-id``); consumers must be
    idempotent on it because a consumer that fails is called again. ``seq`` is the outbox row id.
    """

    id: str
    type: str
    data: dict
    occurred_at: dt.datetime
    version: int = 1
    seq: int | None = None
    actor_id: int | None = None
    resource: str | None = None
    record_id: str | None = None
    customer_id: int | None = None
    causation_id: int | None = None
    depth: int = 0
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row) -> Event:
        """The event stored in an outbox row (``crm_core.events.models.OutboxEvent``)."""
        return cls(
            id=row.uid,
            type=row.type,
            data=row.data or {},
            occurred_at=row.occurred_at,
            version=row.version,
            seq=row.id,
            actor_id=row.actor_id,
            resource=row.resource,
            record_id=row.record_id,
            customer_id=row.customer_id,
            causation_id=row.causation_id,
            depth=row.depth,
            meta=row.meta or {},
        )

    def envelope(self, data: dict | None = None) -> dict:
        """The JSON document sent to webhooks: ``{id, type, version, timestamp, data}``."""
        return {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "timestamp": iso(self.occurred_at),
            "data": self.data if data is None else data,
        }
