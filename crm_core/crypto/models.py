"""The key ring: data keys, each stored wrapped by the master key, and per-person keys."""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel


class DataKey(BaseModel):
    """One data key (DEK). ``state``: ``active`` (the one new values use), ``decrypt_only`` (older
    keys still protecting values) or ``retired`` (protects nothing; its material is deleted)."""

    key_id = pw.CharField(max_length=32, unique=True)
    cipher = pw.CharField(max_length=20)
    wrapped = pw.TextField(null=True)  # base64 of the master-wrapped key; NULL once retired
    wrapper = pw.CharField(max_length=64, default="local")
    state = pw.CharField(max_length=20, default="active", index=True)
    encrypt_count = pw.BigIntegerField(default=0)

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


MODELS = [DataKey, SubjectKey]
