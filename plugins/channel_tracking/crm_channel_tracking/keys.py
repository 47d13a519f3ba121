"""Write-only ingestion keys: they authenticate ``/api/v1/track`` and nothing else.

A key is sent as the ``X-Tracking-Key`` header (or the ``key`` query parameter, for
``navigator.sendBeacon`` and image pixels, which cannot set headers). It is not a bearer token:
the core's authentication never accepts it, so a key in a browser's page source can add events
but cannot read a single row. Keys are stored as SHA-256 hashes and shown once.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from flask import request

from crm_core.plugin_api import APIError, utcnow

from .models import IngestKey

PREFIX = "ctk_"
HEADER = "X-Tracking-Key"
_CACHE_SECONDS = 10.0
_cache: dict[str, tuple[float, int | None]] = {}


def hash_key(raw: str) -> str:
    """SHA-256 hex digest of a raw key."""
    return hashlib.sha256(raw.encode()).hexdigest()


def new_raw_key() -> str:
    """A new random key (``ctk_`` + 32 URL-safe characters)."""
    return PREFIX + secrets.token_urlsafe(24)


def create_key(name: str, created_by: int | None = None) -> tuple[str, IngestKey]:
    """A new key stored directly (the CLI; the API goes through the core's write path):
    ``(raw key shown once, stored row)``."""
    raw = new_raw_key()
    row = IngestKey.create(name=name, prefix=raw[:10], key_hash=hash_key(raw), created_by=created_by)
    return raw, row


def revoke(key: IngestKey) -> None:
    """Revoke a key but keep its row; this process forgets it at once, others within the cache's
    10 seconds."""
    key.revoked_at = utcnow()
    key.save()
    forget(key.id)


def forget(key_id: int) -> None:
    """Drop a key from this process's cache (after revocation or deletion)."""
    for digest in [d for d, (_, kid) in _cache.items() if kid == key_id]:
        _cache.pop(digest, None)


def request_key() -> str:
    """An identifier of the live ingestion key this request carries (a prefix of its hash, for
    rate limits and logs); 401 otherwise.

    Keys are cached briefly per process: ingestion at thousands of requests a second should not
    query the key table on every call.
    """
    raw = request.headers.get(HEADER) or request.args.get("key") or ""
    if not raw:
        raise APIError(401, f"Send an ingestion key in the {HEADER} header.")
    if len(raw) > 200:
        raise APIError(401, "Invalid or revoked ingestion key.")
    digest = hash_key(raw)
    now = time.monotonic()
    cached = _cache.get(digest)
    if cached is None or cached[0] < now:
        row = IngestKey.get_or_none(IngestKey.key_hash == digest, IngestKey.revoked_at.is_null())
        cached = (now + _CACHE_SECONDS, row.id if row else None)
        if len(_cache) > 10000:
            _cache.clear()
        _cache[digest] = cached
    if cached[1] is None:
        raise APIError(401, "Invalid or revoked ingestion key.")
    return digest[:24]
