"""Standard Webhooks signatures (https://www.standardwebhooks.com): ``whsec_`` secrets,
``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``.

Receivers in any language verify our deliveries with the ``standardwebhooks`` libraries; inbound
webhooks from Standard-Webhooks senders are verified here with the same scheme.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

SECRET_PREFIX = "whsec_"
SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9+/]{22,}={0,2}$")
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The signature, timestamp or headers of an inbound webhook are not acceptable."""


def generate_secret() -> str:
    """A new ``whsec_`` secret with 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(raw)


def sign(secret: str, message_id: str, timestamp: int, body: str | bytes) -> str:
    """The ``webhook-signature`` header value: ``v1,<base64 signature>``."""
    if isinstance(body, bytes):
        body = body.decode()
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (a fresh timestamp each attempt)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def verify(
    secrets_: list[str] | str,
    header_map,
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Check an inbound request's Standard Webhooks headers against one of ``secrets_`` (several
    while a secret is being rotated); returns the ``webhook-id``. Raises ``SignatureError``."""
    if isinstance(secrets_, str):
        secrets_ = [secrets_]
    msg_id = header_map.get("webhook-id")
    stamp = header_map.get("webhook-timestamp")
    signatures = header_map.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not a whole number of seconds") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"webhook-timestamp is outside the {tolerance} s replay window")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8") from None
    offered = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    for secret in secrets_:
        expected = sign(secret, msg_id, timestamp, text).split(",", 1)[1]
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            return msg_id
    raise SignatureError("no matching signature")
