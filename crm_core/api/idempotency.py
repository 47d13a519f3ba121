"""``Idempotency-Key`` on creating requests: a retry answers with the first response.

Keys are stored per user (``idempotency_key`` table) for ``IDEMPOTENCY_TTL`` seconds; a repeat with
the same key and the same request answers with the first response (plus ``Idempotent-Replayed:
true``) and creates nothing; the same key with a different request answers 422.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import peewee as pw
from flask import Response, request

from .. import stamps
from ..bulk import insert_one
from ..db import database, utcnow, write_transaction
from ..errors import APIError
from ..prepared import Prepared, slot
from ..records.models import IdempotencyKey

IDEMPOTENCY_TTL = 24 * 3600
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: the request-stamp probe "is this request's key stored?" (crm_core.stamps.register_probe)
PROBE = "idempotency_key"
# compiled once: every creating request with a key asks it
_STORED = Prepared(
    lambda: IdempotencyKey.select().where(
        IdempotencyKey.user_id == slot("user"), IdempotencyKey.key == slot("key")
    )
)


def _usable(key: str) -> str | None:
    """The stored form of an ``Idempotency-Key`` header, or None when it cannot be one."""
    key = key.strip()
    return key if 1 <= len(key) <= 200 and "\x00" not in key else None


def _probe_values(user_id: int) -> dict | None:
    """The probe's values for a creating request that carries a usable key."""
    key = _usable(request.headers.get(IDEMPOTENCY_HEADER) or "")
    if request.method != "POST" or key is None:
        return None
    return {"idem_user": user_id, "idem_key": key}


stamps.register_probe(
    PROBE,
    lambda: IdempotencyKey.select(IdempotencyKey.id).where(
        IdempotencyKey.user_id == slot("idem_user"), IdempotencyKey.key == slot("idem_key")
    ),
    _probe_values,
)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.path.encode())
    digest.update(b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(stored: IdempotencyKey) -> Response:
    response = Response(stored.body, status=stored.status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    if stored.location:
        response.headers["Location"] = stored.location
    return response


def idempotent(actor, run: Callable[[], Response]) -> Response:
    """Run ``run`` once per ``Idempotency-Key`` (per user); a repeat gets the stored response.

    Without the header, just runs ``run``. The record and the stored response are written in one
    transaction, so a failure stores nothing and a concurrent duplicate gets 409 rather than a
    second record.
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        with write_transaction():
            return run()
    key = _usable(key)
    if key is None:
        raise APIError(400, "Idempotency-Key must be 1 to 200 characters.")
    fingerprint = _fingerprint()
    cutoff = utcnow() - dt.timedelta(seconds=IDEMPOTENCY_TTL)
    answered, stored_id = stamps.probed(PROBE)  # (asked with the token's stamps when it could be)
    found = [] if answered and stored_id is None else _STORED.rows(user=actor.id, key=key)
    stored = found[0] if found else None
    if stored is not None and stored.created_at >= cutoff:
        if stored.fingerprint != fingerprint:
            raise APIError(
                422,
                "This Idempotency-Key was already used for a different request.",
                errors={IDEMPOTENCY_HEADER: ["Already used for a different request."]},
            )
        return _replay(stored)
    try:
        with write_transaction():
            if stored is not None:  # expired: the key may be used again
                stored.delete_instance()
            response = run()
            if 200 <= response.status_code < 300:
                # with the COMMIT on PostgreSQL (one round trip fewer); a concurrent request
                # that stored the key first fails the transaction there, and nothing is created
                insert_one(
                    IdempotencyKey,
                    {
                        "user_id": actor.id,
                        "key": key,
                        "fingerprint": fingerprint,
                        "status": response.status_code,
                        "body": response.get_data(as_text=True),
                        "location": response.headers.get("Location"),
                    },
                    defer=database.transaction_depth() == 1,  # (its COMMIT is the one below)
                )
    except pw.IntegrityError as exc:
        if "idempotency" not in str(exc):  # (the key's unique index, by its name on either database)
            raise
        raise APIError(
            409, "A request with this Idempotency-Key is being processed; retry shortly."
        ) from None
    return response
