"""The keyed hash chain: sealing entries as they are written, verifying, and purging old entries.

Every entry gets its place in the chain in the transaction that writes it (``append``): the
writer bumps the one head row (``UPDATE audit_head ... RETURNING``, which locks that row until the
transaction ends on PostgreSQL and takes SQLite's write lock), so concurrent writers queue there
and the chain cannot fork; ``seq`` numbers are consecutive in commit order. Each entry's ``hash``
is an HMAC-SHA256, under a key that is not in the database (``audit_key``: derived from
``AUDIT_KEY`` or else ``SECRET_KEY``), over the entry's content, ``seq`` and ``prev_hash`` (the
previous entry's hash). The head row carries the last ``seq`` and ``hash`` and their own HMAC
(``mac``), which each writer checks before it extends the chain: a head that was rolled back or
forged keeps a ``mac`` that no longer matches, for good.

So ``verify`` notices an edited entry (its HMAC), a deleted one (a gap in ``seq``, or the head
counting further than the log goes: deleting the newest entry too), reordered entries (the
links), and a rewritten log whose hashes were recomputed without the key (HMAC and head MAC).

Chains sealed before the key existed (plain SHA-256) stay verifiable: migration 0003 appends one
keyed ``rekey`` anchor vouching for them (``adopt_legacy``); entries up to its ``legacy_to_seq``
are checked with SHA-256, everything after it with the key. ``seal`` still gives a place to
entries that something inserted unsealed (rows written before this version).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from dataclasses import dataclass

import peewee as pw

from .. import partitions
from ..bulk import insert_one, insert_rows
from ..db import database, is_postgres, read_transaction, utcnow
from .hashing import CURRENT_VERSION, audit_key, canonical, entry_hash, head_mac, legacy_hash
from .models import AuditEntry, AuditHead
from .vouchers import redaction_vouchers

_LOCK_KEY = 0x43524D41  # "CRMA": the advisory lock of the sealer and the purge on PostgreSQL


def _head_ok(key: bytes, seq: int, last_hash: str, mac: str | None) -> bool:
    if mac is None:
        return seq == 0 and not last_hash  # a fresh log, never written
    return hmac.compare_digest(mac, head_mac(key, seq, last_hash))


class _SealLock:
    """A transaction holding the one sealer lock."""

    def __enter__(self):
        if is_postgres():
            self.tx = database.atomic()
            self.tx.__enter__()
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        else:
            self.tx = _write_tx()
            self.tx.__enter__()
        return self

    def __exit__(self, *exc):
        return self.tx.__exit__(*exc)


def _write_tx():
    """A transaction for a write of the chain outside the caller's: on SQLite ``IMMEDIATE``, so
    the write lock is taken up front rather than on upgrade from a read snapshot."""
    if is_postgres() or database.in_transaction():
        return database.atomic()
    return database.atomic(lock_type="IMMEDIATE")


class HeadMissing(RuntimeError):
    """The ``audit_head`` row is gone: someone removed it (``crm audit verify`` says more)."""


def _bump_head(step: int) -> tuple[int, str, str | None, str | None]:
    """Advance the head's ``seq`` by ``step`` and lock the row until the transaction ends;
    returns the head as it was: ``(seq, hash, mac, key_id)``. One statement."""
    cursor = database.execute_sql(
        f"UPDATE audit_head SET seq = seq + {int(step)} WHERE id = 1 RETURNING seq, hash, mac, key_id"
    )
    rows = cursor.fetchall()
    if not rows:
        raise HeadMissing("audit_head row 1 is missing: the audit log was tampered with")
    seq, last_hash, mac, key_id = rows[0]
    return seq - step, last_hash or "", mac, key_id


def _chain(
    rows: list[AuditEntry], insert: bool, adopt: bool = False, bulk: bool = False, defer: bool = False
) -> None:
    """Give ``rows`` the next places in the chain (inside the caller's transaction): one
    statement to lock and bump the head, the inserts (or updates), one statement for the head.

    Entries are sealed in the current hash version (``hashing.CURRENT_VERSION``), except the
    ``rekey`` anchor of ``adopt_legacy``: migration 0003 writes it before migration 0004 added
    the ``hash_version`` column, so it stays version 1 (and is inserted without that column).
    ``bulk``: the new rows go in as one multi-row INSERT (their ids are not read back).
    ``defer``: one new row, sent with the transaction's next statement (``bulk.insert_one``)."""
    key, key_id = audit_key()
    seq, prev, mac, _kid = _bump_head(len(rows))
    keep_mac = not (adopt or _head_ok(key, seq, prev, mac))
    version = None if adopt else CURRENT_VERSION
    columns = [f for f in AuditEntry._meta.sorted_fields if f.name not in ("id", "hash_version")]
    # the one entry of a write goes in with the head's update, in one round trip (``insert_one``)
    single = insert and not bulk and len(rows) == 1 and version is not None
    for row in rows:
        seq += 1
        row.seq, row.prev_hash, row.hash_version = seq, prev, version
        row.hash = prev = entry_hash(row, seq, prev, key)
        if (insert and bulk) or single:
            continue  # all at once below
        if insert:
            row.save(force_insert=True, only=None if version else columns)
        else:
            AuditEntry.update(
                seq=row.seq, prev_hash=row.prev_hash, hash=row.hash, hash_version=version
            ).where(AuditEntry.id == row.id).execute()
    # a head that did not verify keeps its stale mac: the break stays visible to ``verify``
    head = AuditHead.update(
        hash=prev,
        mac=mac if keep_mac else head_mac(key, seq, prev),
        key_id=_kid if keep_mac else key_id,
        sealed_at=utcnow(),
    ).where(AuditHead.id == 1)
    names = [f.name for f in AuditEntry._meta.sorted_fields if f.name != "id"]
    if single:
        values = {n: rows[0].__data__.get(n) for n in names}
        rows[0].id = insert_one(AuditEntry, values, before=[head.sql()], defer=defer)
        return
    if insert and bulk:
        # straight to the driver: peewee's insert_many builds its SQL value by value
        insert_rows(
            AuditEntry, names, [tuple(row.__data__.get(n) for n in names) for row in rows], returning=False
        )
    head.execute()


def append(defer: bool = False, **fields) -> AuditEntry:
    """Insert one entry already sealed (its ``seq``, ``prev_hash`` and HMAC), in the caller's
    transaction if there is one (so the entry commits or rolls back with the write it records),
    else in its own. Costs one round trip besides the INSERT (the head's, sent with it); writers
    queue on the head row. ``defer`` (in a transaction): the INSERT goes out with the
    transaction's next statement or its COMMIT, and the entry's ``id`` is not read (None)."""
    row = AuditEntry(**fields)
    if row.occurred_at is None:
        row.occurred_at = utcnow()
    if database.in_transaction():
        _chain([row], insert=True, defer=defer)
    else:
        with _write_tx():
            _chain([row], insert=True)
    return row


def append_many(entries: list[dict]) -> None:
    """Insert many entries (``append``'s fields each) already sealed, in consecutive places of
    the chain: one statement to take the places, one multi-row INSERT, one for the head."""
    if not entries:
        return
    rows = [AuditEntry(**fields) for fields in entries]
    now = utcnow()
    for row in rows:
        if row.occurred_at is None:
            row.occurred_at = now
    if database.in_transaction():
        _chain(rows, insert=True, bulk=True)
    else:
        with _write_tx():
            _chain(rows, insert=True, bulk=True)


def _head() -> AuditHead:
    head = AuditHead.get_or_none(AuditHead.id == 1)
    if head is None:
        head = AuditHead.create(id=1, seq=0, hash="")
    return head


def seal(batch: int = 5000) -> int:
    """Seal entries that were inserted unsealed (before this version sealed on write, or by code
    that bypasses ``append``), in batches of ``batch``; returns how many were sealed."""
    total = 0
    while AuditEntry.select(AuditEntry.id).where(AuditEntry.seq.is_null()).exists():
        with _SealLock():
            rows = list(
                AuditEntry.select().where(AuditEntry.seq.is_null()).order_by(AuditEntry.id).limit(batch)
            )
            if rows:
                _chain(rows, insert=False)
        total += len(rows)
        if len(rows) < batch:
            break
    return total


def adopt_legacy() -> int:
    """Vouch, with this instance's key, for a chain sealed with plain SHA-256 (migration 0003):
    appends a keyed ``rekey`` anchor naming the last legacy ``seq`` and hash, and gives the head
    its MAC. Returns the last legacy ``seq`` (0: nothing to adopt)."""
    with _SealLock():
        head = _head()
        if head.seq == 0 or head.mac is not None:
            return 0
        key, key_id = audit_key()
        row = AuditEntry(
            kind="anchor",
            resource="audit",
            action="rekey",
            client_id="cli",
            occurred_at=utcnow(),
            after=canonical({"legacy_to_seq": head.seq, "last_hash": head.hash, "key_id": key_id}),
        )
        _chain([row], insert=True, adopt=True)
        return head.seq


@dataclass
class VerifyResult:
    """The outcome of ``verify``: ``ok``, how many entries were checked, and the first bad entry."""

    ok: bool
    checked: int
    bad_id: int | None = None
    bad_seq: int | None = None
    reason: str = ""
    head_seq: int | None = None
    head_hash: str = ""

    def describe(self) -> str:
        """One line for the CLI (when intact, with the head to note down outside the database:
        an earlier copy of the whole database, head included, is the one rewrite this cannot
        tell from the real log)."""
        if self.ok:
            return (
                f"audit log intact: {self.checked} sealed entries verified "
                f"(head seq {self.head_seq}, hash {self.head_hash[:16] or '-'})"
            )
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


def _legacy_to() -> int:
    """The last ``seq`` sealed with plain SHA-256, as vouched for by a ``rekey`` anchor (whose
    own keyed hash ``verify`` checks), or 0."""
    anchors = AuditEntry.select().where(
        AuditEntry.kind == "anchor", AuditEntry.action == "rekey", AuditEntry.seq.is_null(False)
    )
    legacy = 0
    for anchor in anchors:
        try:
            info = json.loads(anchor.after or "{}")
        except ValueError:
            continue
        upto = info.get("legacy_to_seq")
        if isinstance(upto, int) and anchor.seq == upto + 1:  # it must follow the last legacy one
            legacy = max(legacy, upto)
    return legacy


def verify(batch: int = 5000) -> VerifyResult:
    """Check the whole sealed chain and its head with this instance's key; names the first entry
    that was edited, deleted or reordered, or says how the head disagrees with the log. Reads one
    snapshot (entries committed meanwhile by writers are not mistaken for a head mismatch)."""
    if database.in_transaction():
        return _verify(batch)
    with read_transaction():
        return _verify(batch)


def _verify(batch: int) -> VerifyResult:
    key, key_id = audit_key()
    head = AuditHead.get_or_none(AuditHead.id == 1)
    if head is None:
        return VerifyResult(False, 0, None, None, "the chain head row is missing")
    if head.key_id and head.key_id != key_id:
        return VerifyResult(
            False,
            0,
            None,
            head.seq,
            f"the log was sealed with audit key id {head.key_id}, this instance's key is {key_id} "
            "(AUDIT_KEY or SECRET_KEY changed?) or the head was forged",
        )
    checked = 0
    prev: AuditEntry | None = None
    half = AuditEntry.select().where(AuditEntry.seq.is_null() != AuditEntry.hash.is_null()).first()
    if half is not None:
        return VerifyResult(False, 0, half.id, half.seq, "sequence number or hash removed")
    legacy_to = _legacy_to()
    vouched = redaction_vouchers(key)
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
            if row.seq <= legacy_to:
                expected = legacy_hash(row, row.seq, row.prev_hash or "")
            else:
                expected = entry_hash(row, row.seq, row.prev_hash or "", key)
            if not hmac.compare_digest(expected, row.hash or "") and not vouched(row):
                return VerifyResult(
                    False,
                    checked,
                    row.id,
                    row.seq,
                    "content does not match its hash (edited, or re-hashed without the audit key)",
                )
            checked += 1
            prev = row
        if len(rows) < batch:
            break
        last_seq = rows[-1].seq
    last = (prev.seq, prev.hash) if prev else (0, "")
    if head.seq != last[0] or (head.hash or "") != last[1]:
        return VerifyResult(
            False,
            checked,
            None,
            head.seq,
            f"the chain head says seq {head.seq} but the log ends at seq {last[0]} "
            "(entries cut off or deleted)",
        )
    if not _head_ok(key, head.seq, head.hash or "", head.mac):
        return VerifyResult(
            False,
            checked,
            None,
            head.seq,
            "the chain head's MAC does not match (the head was rolled back or rewritten)",
        )
    return VerifyResult(True, checked, head_seq=head.seq, head_hash=head.hash or "")


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
            count = _drop_purged_months(cutoff, keep_from)
            count += (
                AuditEntry.delete().where(AuditEntry.seq.is_null(False), AuditEntry.seq < keep_from).execute()
            )
        append(
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
    return count


def _drop_purged_months(cutoff: dt.datetime, keep_from: int) -> int:
    """On PostgreSQL (the log partitioned by month), drop the months before ``cutoff`` whose every
    entry is sealed with a ``seq`` before ``keep_from``, the ones the purge deletes anyway: whole
    tables go at once. A month holding any entry the chain keeps (sealed late, after one that
    stays) is left to the row delete. Returns the entries dropped."""
    table = AuditEntry._meta.table_name
    if partitions.partition_column(database, table) != "occurred_at":
        return 0
    dropped = 0
    for month in partitions.months_of(database, table):
        if month.upper > cutoff:
            break
        name = partitions.quoted(month.name)
        rows, newest, unsealed = database.execute_sql(
            f"SELECT count(*), max(seq), count(*) FILTER (WHERE seq IS NULL) FROM {name}"
        ).fetchone()
        if rows and not unsealed and newest < keep_from:
            partitions.drop_month(database, table, month.name)
            dropped += rows
    return dropped
