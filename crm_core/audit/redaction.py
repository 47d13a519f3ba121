"""Redaction: take a person's values out of the audit log's before/after images, keeping the
chain verifiable (GDPR Art. 17, PIPL Art. 47: erasure reaches the audit log too).

``redact(values, resource=None, record_id=None, fields=())`` replaces, in sealed entries,

- every string leaf of ``before``/``after`` that contains one of ``values`` (case-insensitive;
  values shorter than ``MIN_VALUE_LENGTH`` are ignored: they would match unrelated text), in the
  entries of ``resource``/``record_id`` when given, else in the whole log;
- and, in the entries of ``resource`` and ``record_id`` (one id, or a list of ids), every leaf
  under the top-level keys
  ``fields`` (``{"phone", "custom"}``: the whole ``custom`` object, leaf by leaf),

by a marker ``{"$redacted": "<digest>"}``. It returns how many entries changed.

Version-2 entries (``crm_core.audit.hashing``) hash each leaf as a keyed digest, and the marker
carries exactly that digest: the entry's hash, and so the chain, is unchanged, and ``crm audit
verify`` still proves that nothing else in the entry was touched. Version-1 and legacy entries
(sealed before version 2) are vouched for by the ``redact`` anchor appended to the chain
(``crm_core.audit.vouchers``). Every call that changed something appends one ``redact`` anchor:
how many entries, their ``seq``, the resource and id it was about and ``reason`` (never the
values). Runs in the caller's transaction when there is one (an erasure), else in its own.

The marker's digest is an HMAC under the audit key: without that key it reveals nothing, and
equal values in two entries get different digests. Someone holding the key could still confirm
a guessed value, as with a blind index; encrypted values are covered by crypto-shredding instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from peewee import SQL, NodeList

from ..db import database, is_postgres
from .chain import append, seal
from .hashing import REDACTED, audit_key, canonical, is_marker, leaf_digest, voucher_digest
from .models import AuditEntry

MIN_VALUE_LENGTH = 3

# the same text as in migration 0002 (which keeps its own frozen copy): recreated after a redaction
_SQLITE_UPDATE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry
WHEN OLD.seq IS NOT NULL OR OLD.hash IS NOT NULL
  OR NEW.occurred_at IS NOT OLD.occurred_at OR NEW.kind IS NOT OLD.kind
  OR NEW.actor_id IS NOT OLD.actor_id OR NEW.actor_name IS NOT OLD.actor_name
  OR NEW.client_id IS NOT OLD.client_id OR NEW.resource IS NOT OLD.resource
  OR NEW.record_id IS NOT OLD.record_id OR NEW.action IS NOT OLD.action
  OR NEW.owner_id IS NOT OLD.owner_id OR NEW.department_id IS NOT OLD.department_id
  OR NEW.before IS NOT OLD.before OR NEW.after IS NOT OLD.after
  OR NEW.request_id IS NOT OLD.request_id OR NEW.ip IS NOT OLD.ip
BEGIN
  SELECT RAISE(ABORT, 'audit_entry is append-only (only sealing may update an entry)');
END
"""


class _redaction_allowed:
    """Inside the redaction's transaction, let the append-only trigger allow changing
    ``before``/``after`` of sealed entries (migration 0004): a transaction-local setting on
    PostgreSQL (the trigger still refuses any other column); on SQLite the update trigger is
    dropped and re-created in the same transaction, so no other connection sees it missing."""

    def __enter__(self):
        if is_postgres():
            database.execute_sql("SET LOCAL crm.audit_redact = 'on'")
        else:
            database.execute_sql("DROP TRIGGER IF EXISTS audit_entry_no_update")

    def __exit__(self, exc_type, *exc):
        if not is_postgres():
            database.execute_sql(_SQLITE_UPDATE_TRIGGER)  # always: SQLite has no aborted state
        elif exc_type is None:
            # after an error the transaction (or its savepoint) rolls back, and SET LOCAL with it;
            # a statement now would only fail on PostgreSQL's aborted transaction and hide the error
            database.execute_sql("SET LOCAL crm.audit_redact = 'off'")


def _needles(values: Iterable[str]) -> list[str]:
    out = {str(v).strip() for v in values if v is not None and len(str(v).strip()) >= MIN_VALUE_LENGTH}
    return sorted(out, key=len, reverse=True)


def _like(text: str) -> str:
    """``text`` as it appears inside stored JSON, as a LIKE pattern taken literally."""
    inner = json.dumps(text, ensure_ascii=False)[1:-1]
    return "%" + inner.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains_any(query, needles: list[str]):
    """``query`` narrowed to entries whose before or after text holds one of ``needles``
    (case-insensitive: ILIKE on PostgreSQL, LIKE on SQLite)."""
    op = SQL("ILIKE" if is_postgres() else "LIKE")
    clauses = None
    for needle in needles:
        pattern = _like(needle)
        for column in (AuditEntry.before, AuditEntry.after):
            expr = NodeList((column, op, pattern, SQL("ESCAPE '\\'")))
            clauses = expr if clauses is None else (clauses | expr)
    return query.where(clauses)


class _Redactor:
    """Replaces the matching leaves of one entry's images, computing each marker's digest."""

    def __init__(self, key: bytes, needles: list[str], fields: set[str]):
        self.key, self.fields = key, fields
        self.folded = [n.casefold() for n in needles]

    def image(self, text: str | None, seq: int, own: bool) -> str | None:
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return text
        out = self._walk(data, seq, "", own and self.fields, top=True)
        return canonical(out)

    def _walk(self, data: Any, seq: int, path: str, fields, top: bool = False, whole: bool = False):
        if is_marker(data):
            return data
        if isinstance(data, dict):
            return {
                k: self._walk(
                    v, seq, f"{path}/{k}", fields, whole=whole or (top and bool(fields) and k in fields)
                )
                for k, v in data.items()
            }
        if isinstance(data, list):
            return [self._walk(v, seq, f"{path}/{i}", fields, whole=whole) for i, v in enumerate(data)]
        if (whole and data is not None) or (isinstance(data, str) and self._matches(data)):
            return {REDACTED: leaf_digest(self.key, seq, path, data)}
        return data

    def _matches(self, text: str) -> bool:
        folded = text.casefold()
        return any(n in folded for n in self.folded)


def redact(
    values: Iterable[str] = (),
    *,
    resource: str | None = None,
    record_id=None,
    fields: Iterable[str] = (),
    reason: str = "erasure",
) -> int:
    """Redact ``values`` (and, for ``resource``/``record_id``, the ``fields``) from the audit
    log's images, keeping the chain verifiable; returns how many entries changed (see module)."""
    needles, fields = _needles(values), set(fields)
    if fields and (resource is None or record_id is None):
        raise ValueError("redacting fields needs resource and record_id")
    if (not needles and not fields) or record_id in ([], (), set(), frozenset()):
        return 0
    if database.in_transaction():
        return _redact(needles, resource, record_id, fields, reason)
    with database.atomic():
        return _redact(needles, resource, record_id, fields, reason)


def _candidates(needles, resource, record_id, fields):
    query = AuditEntry.select().where(AuditEntry.seq.is_null(False)).order_by(AuditEntry.seq)
    if resource is not None:
        query = query.where(AuditEntry.resource == resource)
    if isinstance(record_id, list | tuple | set | frozenset):
        query = query.where(AuditEntry.record_id.in_([str(r) for r in record_id]))
    elif record_id is not None:
        query = query.where(AuditEntry.record_id == str(record_id))
    if not fields:  # only entries whose text holds a value (one scan, in SQL)
        query = _contains_any(query, needles)
    return query


def _ids(record_id):
    if isinstance(record_id, list | tuple | set | frozenset):
        return sorted(str(r) for r in record_id)
    return None if record_id is None else str(record_id)


def _redact(needles, resource, record_id, fields, reason) -> int:
    seal()  # an unsealed entry would be sealed later with its values: give it its place first
    key = audit_key()[0]
    redactor = _Redactor(key, needles, fields)
    own = resource is not None and record_id is not None
    changed: list[int] = []
    vouch: dict[str, str] = {}
    with _redaction_allowed():
        for row in _candidates(needles, resource, record_id, fields):
            before = redactor.image(row.before, row.seq, own)
            after = redactor.image(row.after, row.seq, own)
            if before == row.before and after == row.after:
                continue
            AuditEntry.update(before=before, after=after).where(AuditEntry.id == row.id).execute()
            changed.append(row.seq)
            if row.hash_version != 2:
                row.before, row.after = before, after
                vouch[str(row.seq)] = voucher_digest(row, key)
    if changed:
        append(
            kind="anchor",
            resource="audit",
            action="redact",
            client_id="cli",
            after=canonical(
                {
                    "reason": reason,
                    "resource": resource,
                    "record_id": _ids(record_id),
                    "count": len(changed),
                    "seqs": changed,
                    "vouch": vouch,
                }
            ),
        )
    return len(changed)
