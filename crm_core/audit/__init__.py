"""The tamper-evident audit log.

Every write (core and plugins, API and CLI) reaches ``crm_record_written``; this capability's
implementation (``record_change``) appends an entry in the same transaction: actor, OAuth client,
time, resource, id, action, before/after of the changed fields, request id and IP. Entries are
hash-chained by ``chain.seal`` (see ``crm_core.audit.chain``); ``crm audit verify`` finds the first
edited, deleted or reordered one.

Public: ``record_read(actor, resource, record_id)`` for reads of sensitive objects,
``seal()``, ``verify()``, ``purge(retention_days)``.
"""

from __future__ import annotations

from flask import g, has_request_context, request

from .chain import VerifyResult, canonical, purge, seal, verify
from .models import AuditEntry

__all__ = ["record_change", "record_read", "seal", "verify", "purge", "VerifyResult", "AuditEntry"]


def _who(actor) -> dict:
    in_request = has_request_context()
    if actor is None and in_request:
        actor = g.get("actor")
    info = {
        "actor_id": getattr(actor, "id", None),
        "actor_name": getattr(getattr(actor, "user", None), "username", None),
        "client_id": getattr(actor, "client_id", None),
        "request_id": g.get("request_id") if in_request else None,
        "ip": request.remote_addr if in_request else None,
    }
    if not in_request and info["client_id"] is None:
        info["client_id"] = "cli"  # written by the command line or a background job
    return info


def _ownership(resource: str, record_id, data: dict) -> tuple:
    if resource == "users":
        return record_id, data.get("department_id")
    if resource == "departments":
        return None, record_id
    return data.get("owner_id"), data.get("department_id")


def record_change(change) -> AuditEntry:
    """Append the audit entry of one ``Change`` (called inside the write's transaction)."""
    before, after = change.before, change.after
    if change.action == "update" and before is not None and after is not None:
        fields = change.changed
        before = {k: before.get(k) for k in fields}
        after = {k: after.get(k) for k in fields}
    owner_id, department_id = _ownership(
        change.resource, change.record_id, change.after or change.before or {}
    )
    info = _who(change.actor)
    if change.request_id:
        info["request_id"] = change.request_id
    if change.ip:
        info["ip"] = change.ip
    return AuditEntry.create(
        kind="write",
        resource=change.resource,
        record_id=None if change.record_id is None else str(change.record_id),
        action=change.action,
        owner_id=owner_id if isinstance(owner_id, int) else None,
        department_id=department_id if isinstance(department_id, int) else None,
        before=canonical(before),
        after=canonical(after),
        **info,
    )


def record_read(actor, resource: str, record_id, record=None) -> AuditEntry:
    """Log that ``actor`` read ``resource`` record ``record_id`` (call for sensitive objects).
    Pass the ``record`` (or a dict of it) so the entry carries its ownership for row scopes."""
    data = record if isinstance(record, dict) else {}
    if record is not None and not isinstance(record, dict):
        data = {
            "owner_id": getattr(record, "owner_id", None),
            "department_id": getattr(record, "department_id", None),
        }
    owner_id, department_id = _ownership(resource, record_id, data)
    return AuditEntry.create(
        kind="read",
        resource=resource,
        record_id=None if record_id is None else str(record_id),
        action="read",
        owner_id=owner_id if isinstance(owner_id, int) else None,
        department_id=department_id if isinstance(department_id, int) else None,
        **_who(actor),
    )
