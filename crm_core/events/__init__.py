"""Domain events: the transactional outbox and its dispatcher.

Public API (see docs/events.md for event names and payloads):

- ``emit(event_type, data, actor=None, ...)`` writes an event to the outbox inside the caller's
  transaction: if the transaction rolls back, the event never existed.
- ``dispatch_pending()`` delivers committed events to every ``crm_event`` hook (automation rules
  and webhook subscriptions are such hooks too) and returns how many events it handled. The
  scheduler runs it every few seconds; tests and single-process use call it directly.
- ``Event``: what ``crm_event`` hooks receive (``id``, ``type``, ``version``, ``occurred_at``,
  ``data``, ``actor_id``, ``customer_id``, ``causation_id``, ``depth``, ``meta``).
- ``caused_by(event)``: events emitted inside this block record ``event`` as their cause (the
  dispatcher sets it around every consumer, so loops can be detected by depth).
"""

from __future__ import annotations

from .dispatcher import dispatch_cache, dispatch_pending, retry_event
from .emitter import MAX_DEPTH, Event, caused_by, current_cause, emit, emit_many, to_json

__all__ = [
    "MAX_DEPTH",
    "Event",
    "caused_by",
    "current_cause",
    "dispatch_cache",
    "dispatch_pending",
    "emit",
    "emit_many",
    "retry_event",
    "to_json",
]
