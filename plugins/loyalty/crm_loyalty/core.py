"""The crm_core event services this plugin calls (public: ``crm_core.plugin_api``)."""

from __future__ import annotations

from crm_core import plugin_api

RESOURCE = "loyalty.members"


def emit(event_type: str, data: dict, actor=None) -> None:
    """Write a domain event to the outbox inside the caller's transaction."""
    plugin_api.emit(event_type, data, actor=actor, resource=RESOURCE)


def current_event_id() -> str | None:
    """The id of the event being handled (when an ``order.paid`` handler earns points), or None."""
    cause = plugin_api.current_cause()
    return cause.id if cause is not None else None
