"""The tamper-evident audit log.

Every write (core and plugins, API and CLI) reaches ``crm_record_written``; this capability's
implementation (``record_change``) appends an entry in the same transaction: actor, OAuth client,
time, resource, id, action, before/after of the changed fields, request id and IP. Each entry is
sealed as it is written: its place in a chain keyed with HMAC-SHA256 under a key outside the
database (see ``crm_core.audit.chain``); ``crm audit verify`` finds the first edited, deleted or
reordered one, and a log rewritten without the key.

Public:

- ``record_event(actor, action, resource, record_id=None, extra=None, record=None)``: one audited
  event that is not a write: a secret reveal, an export (with its filter and row count), a
  privacy export, a login success or failure. Call it where the event happens.
- ``record_read(actor, resource, record_id, record=None)``: a read of a sensitive record.
- ``seal()``, ``verify()``, ``purge(retention_days)``.
- ``redact(values, resource=None, record_id=None, fields=())``: take a person's values out of the
  before/after images (an erasure), keeping the chain verifiable (``crm_core.audit.redaction``).
"""

from __future__ import annotations

from flask import g, has_request_context, request

from .chain import VerifyResult, append, append_many, canonical, purge, seal, verify
from .models import AuditEntry
from .redaction import redact

__all__ = [
    "record_change",
    "record_changes",
    "record_event",
    "record_read",
    "seal",
    "verify",
    "purge",
    "redact",
    "VerifyResult",
    "AuditEntry",
]


def _who(actor) -> dict:
    in_request = has_request_context()
    if actor is None and in_request:
        actor = g.get("actor")
    info = {
        "actor_id": getattr(actor, "id", None),
        # an ``Actor`` (its user's name) or a ``User`` (a login names the user before any actor)
        "actor_name": getattr(getattr(actor, "user", None), "username", None)
        or getattr(actor, "username", None),
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


def record_change(change, defer: bool = False) -> AuditEntry:
    """Append the audit entry of one ``Change`` (called inside the write's transaction).
    ``defer``: sent with the transaction's next statement (its ``id`` is then not read)."""
    return append(defer=defer, **_entry_of(change))


def record_changes(changes) -> None:
    """Append the audit entries of many ``Change`` s, one each, in one multi-row insert."""
    append_many([_entry_of(change) for change in changes])


def _entry_of(change) -> dict:
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
    return dict(
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


#: actions of ``record_event`` that are about signing in (entry kind ``auth``); every other
#: action is a read of something worth auditing (kind ``read``)
AUTH_ACTIONS = frozenset({"login", "login_failed"})


def _plain(value):
    """``extra`` values as JSON: a query MultiDict (``request.args``) becomes a dict whose
    repeated keys hold lists."""
    if hasattr(value, "getlist") and hasattr(value, "keys"):
        out = {}
        for key in value:
            values = value.getlist(key)
            out[key] = values[0] if len(values) == 1 else values
        return out
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def record_event(actor, action: str, resource: str, record_id=None, extra=None, record=None) -> AuditEntry:
    """Audit one event that is not a write, sealed into the chain at once (inside the caller's
    transaction if there is one, else in its own).

    ``action`` says what happened: ``"reveal_secret"``, ``"export"``, ``"read"`` (a privacy
    export is a read with ``extra={"export": FORMAT}``), ``"login"``, ``"login_failed"``...
    (``login``/``login_failed`` make an entry of kind ``auth``, anything else kind ``read``). ``resource`` and ``record_id`` name what it was about (the
    resource's read scope and hidden fields then govern who sees the entry and its details).
    ``extra`` is a small dict stored as the entry's ``after``, e.g. an export's
    ``{"filter": request.args, "rows": 120, "format": "csv"}`` (a MultiDict is turned into a dict);
    never put the secret or the exported data there. ``actor`` defaults to the request's actor;
    pass the ``User`` for a login. ``record`` (a model or its dict) gives the entry the record's
    owner and department, for row scopes."""
    data = record if isinstance(record, dict) else {}
    if record is not None and not isinstance(record, dict):
        data = {
            "owner_id": getattr(record, "owner_id", None),
            "department_id": getattr(record, "department_id", None),
        }
    owner_id, department_id = _ownership(resource, record_id, data)
    return append(
        kind="auth" if action in AUTH_ACTIONS else "read",
        resource=resource,
        record_id=None if record_id is None else str(record_id),
        action=action,
        owner_id=owner_id if isinstance(owner_id, int) else None,
        department_id=department_id if isinstance(department_id, int) else None,
        after=canonical(_plain(extra)) if extra is not None else None,
        **_who(actor),
    )


def record_read(actor, resource: str, record_id, record=None) -> AuditEntry:
    """Log that ``actor`` read ``resource`` record ``record_id`` (call for sensitive objects).
    Pass the ``record`` (or a dict of it) so the entry carries its ownership for row scopes."""
    return record_event(actor, "read", resource, record_id, record=record)
