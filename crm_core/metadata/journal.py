"""Definition changes go through ``crm_record_written`` like record writes: the audit log keeps
who changed the data model, and the outbox emits ``field.created`` / ``object_type.deleted``..."""

from __future__ import annotations

from flask import current_app, g, has_app_context, has_request_context, request

from ..changes import Change


def written(action: str, resource: str, record_id, before: dict | None, after: dict | None) -> None:
    """Report one create/update/delete of a definition (call inside its transaction)."""
    if not has_app_context() or "crm" not in current_app.extensions:
        return
    actor = None
    if has_request_context():
        from ..auth import current_actor

        actor = current_actor(required=False)
    change = Change(
        action=action,
        resource=resource,
        record_id=record_id,
        actor=actor,
        before=before,
        after=after,
        request_id=g.get("request_id") if has_request_context() else None,
        ip=request.remote_addr if has_request_context() else None,
    )
    current_app.extensions["crm"].plugins.hook.crm_record_written(change=change)
