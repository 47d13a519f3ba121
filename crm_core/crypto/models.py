"""The key ring: data keys, each stored wrapped by the master key, and per-person keys."""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel, database


class DataKey(BaseModel):
    """One data key (DEK). ``state``: ``active`` (the one new values use), ``decrypt_only`` (older
    keys still protecting values) or ``retired`` (protects nothing; its material is deleted)."""

    key_id = pw.CharField(max_length=32, unique=True)
    cipher = pw.CharField(max_length=20)
    wrapped = pw.TextField(null=True)  # base64 of the master-wrapped key; NULL once retired
    wrapper = pw.CharField(max_length=64, default="local")
    state = pw.CharField(max_length=20, default="active", index=True)

    class Meta:
        table_name = "crypto_data_key"


class SubjectKey(BaseModel):
    """The key of one person (``customers/12``): values bound to it become unreadable everywhere
    (audit images, archives, backups restored later) once it is shredded."""

    subject = pw.CharField(max_length=120, unique=True)
    wrapped = pw.TextField(null=True)  # NULL once shredded
    shredded_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "crypto_subject_key"


class BlindIndex(pw.Model):
    """The blind index of one encrypted value: a truncated keyed HMAC (``crypto.blind``) that finds
    a record by exact value without decrypting every row. Short on purpose: many values share a
    digest, so the table alone does not tell who holds which value (candidates are decrypted to
    drop the false matches)."""

    entity = pw.CharField(max_length=100)
    field = pw.CharField(max_length=64)
    record_id = pw.BigIntegerField()
    digest = pw.CharField(max_length=16)

    class Meta:
        database = database
        table_name = "crypto_blind_index"
        primary_key = pw.CompositeKey("entity", "field", "record_id")
        indexes = ((("entity", "field", "digest"), False),)


MODELS = [DataKey, SubjectKey, BlindIndex]
