"""Stored responses of ``POST`` requests sent with an ``Idempotency-Key`` header."""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel


class IdempotencyKey(BaseModel):
    """The first successful response to a keyed ``POST``, scoped per user.

    ``fingerprint`` is a hash of method, path and body: reusing a key for a different request is
    refused instead of silently answering with an unrelated result.
    """

    user_id = pw.IntegerField()
    key = pw.CharField(max_length=200)
    fingerprint = pw.CharField(max_length=64)
    status = pw.IntegerField()
    body = pw.TextField()
    location = pw.CharField(max_length=500, null=True)

    class Meta:
        table_name = "idempotency_key"
        indexes = ((("user_id", "key"), True),)


MODELS = [IdempotencyKey]
