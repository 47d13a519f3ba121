"""Writing events: ``emit`` and the ``Event`` value consumers receive."""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import enum
import re
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..bulk import insert_one, insert_rows
from ..changes import Event, iso
from ..db import utcnow
from ..errors import APIError
from .models import DEAD, PENDING, OutboxEvent

# An event type is dotted lower-case words: ``customer.created``, ``loyalty.members.updated``.
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_*]+)+$")

# A chain of events causing events deeper than this is a loop; such events are recorded as
# ``dead`` (visible at /api/v1/events) instead of being dispatched.
MAX_DEPTH = 8


_cause: contextvars.ContextVar[tuple[Event, tuple] | None] = contextvars.ContextVar(
    "crm_event_cause", default=None
)


@contextmanager
def caused_by(event: Event, rule_id: int | None = None) -> Iterator[None]:
    """Events emitted inside this block are caused by ``event`` (depth + 1, same correlation).

    ``rule_id`` adds an automation rule to the chain (``meta["rules"]``) so that a rule can
    recognise events its own actions caused.
    """
    rules = tuple(event.meta.get("rules", ()))
    if rule_id is not None:
        rules = (*rules, rule_id)
    token = _cause.set((event, rules))
    try:
        yield
    finally:
        _cause.reset(token)


def current_cause() -> Event | None:
    """The event being handled in this context, if any."""
    cause = _cause.get()
    return cause[0] if cause else None


def to_json(value: Any) -> Any:
    """A JSON-ready copy of ``value``: Decimal -> string (money keeps its digits), datetimes ->
    ISO 8601 UTC, dates -> ISO, UUID/enum -> their value, sets/tuples -> lists."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    # a record's image is mostly plain values: kept as they are without a call each
    if isinstance(value, Mapping):
        return {
            (k if k.__class__ is str else str(k)): (v if v.__class__ in _PLAIN else to_json(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [v if v.__class__ in _PLAIN else to_json(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot put a {type(value).__name__} into an event payload")


#: the types ``to_json`` keeps as they are (exactly these: a subclass, e.g. an enum, is converted)
_PLAIN = frozenset({str, int, float, bool, type(None)})


def new_event_uid() -> str:
    """``evt_`` + a time-ordered, random 26-hex-digit id (sortable like a ULID)."""
    return f"evt_{int(time.time() * 1000):012x}{secrets.token_hex(7)}"


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def emit(
    event_type: str,
    data: Mapping,
    actor: Any = None,
    *,
    resource: str | None = None,
    record_id: Any = None,
    customer_id: int | None = None,
    version: int = 1,
    public: bool = False,
) -> Event:
    """Write a domain event to the outbox in the caller's transaction and return it.

    Call it inside the ``database.atomic()`` block of the change it describes: a rollback then
    removes the event too, and the dispatcher delivers it only after commit. ``data`` must be
    JSON-ready after :func:`to_json` (Decimal and datetime are converted). ``actor`` is an
    ``Actor``, a user id or None. ``resource`` names the permission resource of ``data`` so that
    webhooks can mask it by their owner's field rules; ``customer_id`` (default: ``data
    ["customer_id"]``, the record id of ``customers`` events, or ``data["object"]
    ["customer_id"]``) feeds the per-customer event
    history that automation conditions count over. An event without a ``resource`` reaches
    webhooks with only its id keys (it fails closed: nobody's field rules can apply) unless
    ``public=True`` declares its data fit for every subscriber (kept as ``meta["public"]``).
    Raises ``APIError(500)`` on a malformed type.
    """
    values = _outbox_row(event_type, data, actor, resource, record_id, customer_id, version, public)
    row = OutboxEvent(**values)
    # straight to the driver (its INSERT built once): this runs on every write
    row.id = insert_one(OutboxEvent, values)
    return Event.from_row(row)


def emit_deferred(event_type: str, data: Mapping, actor: Any = None, **options) -> None:
    """:func:`emit` for a writer that does not read the event back: on PostgreSQL the outbox row
    goes out with the transaction's next statement or its COMMIT (``bulk.insert_one(defer=True)``),
    saving a round trip per write. Same arguments as ``emit``; returns nothing."""
    values = _outbox_row(event_type, data, actor, **options)
    insert_one(OutboxEvent, values, defer=True)


def emit_many(events: list[dict]) -> None:
    """Write many domain events (each ``emit``'s arguments as a dict: ``event_type``, ``data``,
    ``actor``, ``resource``, ``record_id``...) to the outbox in one multi-row insert, in the
    caller's transaction (the batch form of :func:`emit`, for bulk writes)."""
    if events:
        rows = [_outbox_row(**event) for event in events]
        names = list(rows[0])
        # straight to the driver: peewee's insert_many builds its SQL value by value
        insert_rows(OutboxEvent, names, [tuple(row[n] for n in names) for row in rows], returning=False)


def _outbox_row(
    event_type, data, actor=None, resource=None, record_id=None, customer_id=None, version=1, public=False
) -> dict:
    """The outbox row of one event (see :func:`emit`)."""
    if not isinstance(event_type, str) or not EVENT_TYPE_RE.match(event_type) or "*" in event_type:
        raise APIError(500, f"Invalid event type {event_type!r}: use dotted lower-case words.")
    if not isinstance(data, Mapping):
        raise APIError(500, f"Event {event_type} data must be a mapping, not {type(data).__name__}.")
    payload = to_json(data)
    if customer_id is None:
        customer_id = _int_or_none(payload.get("customer_id"))
        if customer_id is None and resource == "customers":
            customer_id = _int_or_none(record_id)
        if customer_id is None and isinstance(payload.get("object"), dict):
            # a record event of something that belongs to a customer (activity, ticket, deal)
            customer_id = _int_or_none(payload["object"].get("customer_id"))
    actor_id = actor if isinstance(actor, int) else getattr(actor, "id", None)
    cause = _cause.get()
    meta: dict = {"public": True} if public else {}
    causation_id, depth = None, 0
    if cause is not None:
        parent, rules = cause
        causation_id, depth = parent.seq, parent.depth + 1
        meta["correlation_id"] = parent.meta.get("correlation_id", parent.id)
        if rules:
            meta["rules"] = list(rules)
    uid = new_event_uid()
    now = utcnow()
    too_deep = depth > MAX_DEPTH
    return dict(
        uid=uid,
        type=event_type,
        version=version,
        data=payload,
        resource=resource,
        record_id=None if record_id is None else str(record_id),
        customer_id=customer_id,
        actor_id=actor_id,
        causation_id=causation_id,
        depth=depth,
        meta=meta,
        occurred_at=now,
        next_attempt_at=now,
        status=DEAD if too_deep else PENDING,
        last_error=f"causation depth {depth} exceeds {MAX_DEPTH}: event loop stopped" if too_deep else None,
    )
