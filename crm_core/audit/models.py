"""The audit log's tables: entries (append-only, hash-chained once sealed) and the chain head."""

from __future__ import annotations

import peewee as pw

from ..db import database, utcnow


class AuditEntry(pw.Model):
    """One audited event: a write (create/update/delete), a sensitive read, or a purge anchor.

    Entries are inserted sealed, in the writer's transaction (``crm_core.audit.chain.append``):
    ``seq`` (consecutive, in commit order), ``prev_hash`` and ``hash`` (an HMAC under the audit
    key). ``seq``/``hash`` NULL marks a row inserted unsealed, which ``chain.seal`` seals later.
    """

    id = pw.BigAutoField()
    seq = pw.BigIntegerField(null=True, unique=True)
    prev_hash = pw.CharField(max_length=64, null=True)
    hash = pw.CharField(max_length=64, null=True)
    # what ``hash`` covers (``crm_core.audit.hashing``): NULL = version 1 (the stored JSON texts),
    # 2 = the before/after images as digest trees, so a value can be redacted keeping the hash
    hash_version = pw.SmallIntegerField(null=True)
    occurred_at = pw.DateTimeField(default=utcnow, index=True)
    kind = pw.CharField(max_length=10, default="write")  # write | read | anchor
    actor_id = pw.IntegerField(null=True, index=True)
    actor_name = pw.CharField(max_length=150, null=True)
    client_id = pw.CharField(max_length=64, null=True)
    resource = pw.CharField(max_length=120)
    record_id = pw.CharField(max_length=64, null=True)
    action = pw.CharField(max_length=40)
    # the record's ownership, so the audit log obeys the same row scopes as the record itself
    owner_id = pw.IntegerField(null=True)
    department_id = pw.IntegerField(null=True)
    before = pw.TextField(null=True)  # canonical JSON text: hashed exactly as stored
    after = pw.TextField(null=True)
    request_id = pw.CharField(max_length=128, null=True)
    ip = pw.CharField(max_length=64, null=True)

    class Meta:
        database = database
        table_name = "audit_entry"
        indexes = ((("resource", "record_id"), False),)


class AuditHead(pw.Model):
    """The last sealed entry (one row, the writers' lock): lets ``verify`` notice entries cut off
    the end. ``mac`` is an HMAC of ``seq`` and ``hash`` under the audit key (NULL only while the
    log is empty); ``key_id`` names the key that sealed the log."""

    id = pw.IntegerField(primary_key=True)
    seq = pw.BigIntegerField(default=0)
    hash = pw.CharField(max_length=64, default="")
    sealed_at = pw.DateTimeField(null=True)
    mac = pw.CharField(max_length=64, null=True)
    key_id = pw.CharField(max_length=16, null=True)

    class Meta:
        database = database
        table_name = "audit_head"


MODELS = [AuditEntry, AuditHead]
