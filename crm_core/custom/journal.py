"""Definition changes go through the one write path like record writes: the audit log keeps who
changed the data model, and the outbox emits ``field.created`` / ``object_type.deleted``..."""

from __future__ import annotations

from flask import current_app, has_app_context

from ..changes import record_written


def written(action: str, resource: str, record_id, before: dict | None, after: dict | None) -> None:
    """Report one create/update/delete of a definition (call inside its transaction) through
    ``changes.record_written``; outside an app (a bare script) there is nobody to tell."""
    if not has_app_context() or "crm" not in current_app.extensions:
        return
    record_written(action, resource, None, None, before, after, record_id=record_id)
