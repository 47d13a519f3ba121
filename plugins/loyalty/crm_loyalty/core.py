"""The crm_core event services this plugin calls (public: ``crm_core.events``).

Imported where used so that this package imports cleanly before the app is built.
"""

from __future__ import annotations

RESOURCE = "loyalty.members"


def emit(event_type: str, data: dict, actor=None) -> None:
    """Write a domain event to the outbox inside the caller's transaction."""
    from crm_core import events

    events.emit(event_type, data, actor=actor, resource=RESOURCE)


def current_event_id() -> str | None:
    """The id of the event being handled (when an ``order.paid`` handler earns points), or None."""
    from crm_core import events

    cause = events.current_cause()
    return cause.id if cause is not None else None
