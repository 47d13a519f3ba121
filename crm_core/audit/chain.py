"""The hash chain: sealing unsealed entries in commit order, verifying, and purging old entries.

Writers insert entries unsealed inside their own transactions (no shared lock). ``seal`` is the
only place that takes a lock (a PostgreSQL advisory lock, or SQLite's write lock): it gives the
visible unsealed entries consecutive ``seq`` numbers, each entry's ``prev_hash`` is the previous
entry's ``hash``, and ``hash`` = SHA-256 over the entry's content, ``seq`` and ``prev_hash``. So an
edited entry no longer matches its hash, a deleted one leaves a gap in ``seq`` and a broken link,
reordered entries break the links, and ``audit_head`` remembers the last sealed entry so cutting
entries off the end is noticed too. Entries are only protected once sealed; the scheduler seals
every few seconds and ``crm audit verify`` seals before verifying.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import peewee as pw

from ..db import database, is_postgres, utcnow
from .models import AuditEntry, AuditHead

_LOCK_KEY = 0x43524D41  # "CRMA": the advisory lock of the sealer on PostgreSQL


def canonical(data) -> str | None:
    """The canonical JSON text of a before/after dict (what is stored and hashed)."""
    if data is None:
        return None
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(row: AuditEntry, seq: int, prev_hash: str) -> str:
    """SHA-256 over everything an entry says, its place in the chain and its predecessor's hash."""
    occurred = row.occurred_at
    if isinstance(occurred, str):  # SQLite may hand back text for odd values
        occurred = dt.datetime.fromisoformat(occurred)
    payload = {
        "seq": seq,
        "prev": prev_hash or "",
        "occurred_at": occurred.isoformat() if occurred else None,
        "kind": row.kind,
        "actor_id": row.actor_id,
        "actor_name": row.actor_name,
        "client_id": row.client_id,
        "resource": row.resource,
        "record_id": row.record_id,
        "action": row.action,
        "owner_id": row.owner_id,
        "department_id": row.department_id,
        "before": row.before,
        "after": row.after,
        "request_id": row.request_id,
        "ip": row.ip,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class _SealLock:
    """A transaction holding the one sealer lock."""

    def __enter__(self):
        if is_postgres():
            self.tx = database.atomic()
            self.tx.__enter__()
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        else:
            # IMMEDIATE takes SQLite's write lock up front, so two sealers cannot interleave
            self.tx = (
                database.atomic() if database.in_transaction() else database.atomic(lock_type="IMMEDIATE")
            )
            self.tx.__enter__()
        return self

    def __exit__(self, *exc):
        return self.tx.__exit__(*exc)


def _head() -> AuditHead:
    head = AuditHead.get_or_none(AuditHead.id == 1)
    if head is None:
        head = AuditHead.create(id=1, seq=0, hash="")
    return head


def seal(batch: int = 5000) -> int:
    """Seal every visible unsealed entry (in batches of ``batch``); returns how many were sealed."""
    total = 0
    while True:
        with _SealLock():
            head = _head()
            rows = list(
                AuditEntry.select().where(AuditEntry.seq.is_null()).order_by(AuditEntry.id).limit(batch)
            )
            seq, prev = head.seq, head.hash
            for row in rows:
                seq += 1
                digest = entry_hash(row, seq, prev)
                AuditEntry.update(seq=seq, prev_hash=prev, hash=digest).where(
                    AuditEntry.id == row.id
                ).execute()
                prev = digest
            if rows:
                AuditHead.update(seq=seq, hash=prev, sealed_at=utcnow()).where(AuditHead.id == 1).execute()
        total += len(rows)
        if len(rows) < batch:
            return total


@dataclass
class VerifyResult:
    """The outcome of ``verify``: ``ok``, how many entries were checked, and the first bad entry."""

    ok: bool
    checked: int
    bad_id: int | None = None
    bad_seq: int | None = None
    reason: str = ""

    def describe(self) -> str:
        """One line for the CLI."""
        if self.ok:
            return f"audit log intact: {self.checked} sealed entries verified"
        where = f"entry id {self.bad_id}" if self.bad_id is not None else "the chain"
        seq = f" (seq {self.bad_seq})" if self.bad_seq is not None else ""
        return f"audit log TAMPERED at {where}{seq}: {self.reason}"


def _anchor_for(first: AuditEntry) -> bool:
    """True when a sealed anchor entry vouches for the purged entries before ``first``."""
    anchors = AuditEntry.select().where(AuditEntry.kind == "anchor", AuditEntry.seq.is_null(False))
    for anchor in anchors:
        try:
            info = json.loads(anchor.after or "{}")
        except ValueError:
            continue
        if info.get("purged_to_seq") == first.seq - 1 and info.get("last_hash") == first.prev_hash:
            return True
    return False


def verify(batch: int = 5000) -> VerifyResult:
    """Check the whole sealed chain; names the first entry that was edited, deleted or reordered."""
    checked = 0
    prev: AuditEntry | None = None
    half = AuditEntry.select().where(AuditEntry.seq.is_null() != AuditEntry.hash.is_null()).first()
    if half is not None:
        return VerifyResult(False, 0, half.id, half.seq, "sequence number or hash removed")
    last_seq = None
    while True:
        query = AuditEntry.select().where(AuditEntry.seq.is_null(False)).order_by(AuditEntry.seq).limit(batch)
        if last_seq is not None:
            query = query.where(AuditEntry.seq > last_seq)
        rows = list(query)
        for row in rows:
            if prev is None:
                if row.seq != 1 and not _anchor_for(row):
                    return VerifyResult(
                        False,
                        checked,
                        row.id,
                        row.seq,
                        f"entries before seq {row.seq} are missing and no purge anchor covers them",
                    )
                if row.seq == 1 and row.prev_hash:
                    return VerifyResult(
                        False, checked, row.id, row.seq, "the first entry links to a predecessor"
                    )
            else:
                if row.seq != prev.seq + 1:
                    return VerifyResult(
                        False, checked, row.id, row.seq, f"entries {prev.seq + 1}..{row.seq - 1} were deleted"
                    )
                if row.prev_hash != prev.hash:
                    return VerifyResult(
                        False,
                        checked,
                        row.id,
                        row.seq,
                        "does not link to the entry before it (reordered or replaced)",
                    )
            if entry_hash(row, row.seq, row.prev_hash or "") != row.hash:
                return VerifyResult(
                    False, checked, row.id, row.seq, "content does not match its hash (edited)"
                )
            checked += 1
            prev = row
        if len(rows) < batch:
            break
        last_seq = rows[-1].seq
    head = _head()
    last = (prev.seq, prev.hash) if prev else (0, "")
    if head.seq != last[0] or head.hash != last[1]:
        return VerifyResult(
            False,
            checked,
            None,
            head.seq,
            f"the chain head says seq {head.seq} but the log ends at seq {last[0]} (entries cut off)",
        )
    return VerifyResult(True, checked)


# the same text as in migration 0002 (which keeps its own frozen copy)
_SQLITE_DELETE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry
BEGIN
  SELECT RAISE(ABORT, 'audit_entry is append-only (delete refused)');
END
"""


class _purge_allowed:
    """Inside the purge's transaction, let the append-only trigger allow deletes (see migration
    0002): a transaction-local setting on PostgreSQL; on SQLite the delete trigger is dropped and
    re-created in the same transaction, so no other connection ever sees it missing."""

    def __enter__(self):
        if is_postgres():
            database.execute_sql("SET LOCAL crm.audit_purge = 'on'")
        else:
            database.execute_sql("DROP TRIGGER IF EXISTS audit_entry_no_delete")

    def __exit__(self, *exc):
        if is_postgres():
            database.execute_sql("SET LOCAL crm.audit_purge = 'off'")
        else:
            database.execute_sql(_SQLITE_DELETE_TRIGGER)


def purge(retention_days: int, now: dt.datetime | None = None) -> int:
    """Delete sealed entries older than ``retention_days`` and leave an anchor entry that records
    what was purged and the last purged hash, so the rest of the chain still verifies."""
    seal()
    cutoff = (now or utcnow()) - dt.timedelta(days=retention_days)
    with _SealLock():
        head = _head()
        keep_from = (
            AuditEntry.select(pw.fn.MIN(AuditEntry.seq))
            .where(AuditEntry.seq.is_null(False), AuditEntry.occurred_at >= cutoff)
            .scalar()
        )
        if keep_from is None:
            keep_from = head.seq + 1  # everything sealed is old
        first = AuditEntry.select(pw.fn.MIN(AuditEntry.seq)).where(AuditEntry.seq.is_null(False)).scalar()
        if first is None or keep_from <= first:
            return 0
        boundary = AuditEntry.get(AuditEntry.seq == keep_from - 1)
        with _purge_allowed():
            count = (
                AuditEntry.delete().where(AuditEntry.seq.is_null(False), AuditEntry.seq < keep_from).execute()
            )
        AuditEntry.create(
            kind="anchor",
            resource="audit",
            action="purge",
            after=canonical(
                {
                    "purged_from_seq": first,
                    "purged_to_seq": keep_from - 1,
                    "last_hash": boundary.hash,
                    "count": count,
                    "cutoff": cutoff.isoformat(),
                    "retention_days": retention_days,
                }
            ),
        )
    seal()
    return count
