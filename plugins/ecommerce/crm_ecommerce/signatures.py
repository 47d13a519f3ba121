"""How each platform signs its webhooks, and the key a repeated delivery is recognised by.

Every scheme is an HMAC over the RAW request body (the bytes as received, before any JSON
parsing: re-serialising changes them and breaks the signature), compared in constant time
against each secret the shop accepts (two during a rotation):

- Shopify: ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(secret, body));
  dedupe on ``X-Shopify-Event-Id`` (the same across duplicate deliveries of one event);
- WooCommerce: ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(secret, body)); its delivery id is
  not stable across re-sends, so dedupe on resource + id + ``date_modified_gmt`` of the body;
- generic: ``X-Signature: sha256=<hex HMAC-SHA256(secret, body)>``; dedupe on ``X-Event-Id``,
  else on the body's digest;
- tracking callbacks (AfterShip): ``aftership-hmac-sha256`` = base64(HMAC-SHA256(secret, body));
  dedupe on the body's digest (a retry sends the same body).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

HEADERS = {
    "shopify": "X-Shopify-Hmac-Sha256",
    "woocommerce": "X-WC-Webhook-Signature",
    "generic": "X-Signature",
    "aftership": "aftership-hmac-sha256",
}


def scheme(platform: str) -> str:
    """The signing scheme of ``platform``: its own, or the generic HMAC for a platform an adapter
    plugin adds."""
    return platform if platform in HEADERS else "generic"


def _digest(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def signature(platform: str, secret: str, body: bytes) -> str:
    """The signature header value ``platform`` sends for ``body`` (what a sender computes)."""
    digest = _digest(secret, body)
    if scheme(platform) == "generic":
        return "sha256=" + digest.hex()
    return base64.b64encode(digest).decode()


def verify(platform: str, secrets: list[str], body: bytes, headers) -> bool:
    """True when the delivery's signature header matches ``body`` under one of ``secrets``.
    Every secret is compared (no early exit), each with ``hmac.compare_digest``."""
    given = (headers.get(HEADERS[scheme(platform)]) or "").strip()
    if not given or not secrets:
        return False
    matched = False
    for secret in secrets:
        expected = signature(platform, secret, body)
        matched |= hmac.compare_digest(expected.encode(), given.encode())
    return matched


def dedupe_key(platform: str, headers, body: bytes, payload: dict) -> str:
    """The key under which this delivery is stored once (see the module's docstring)."""
    if platform == "shopify":
        event = headers.get("X-Shopify-Event-Id") or headers.get("X-Shopify-Webhook-Id")
        if event:
            return f"event:{event}"[:300]
    elif platform == "woocommerce":
        resource = headers.get("X-WC-Webhook-Resource") or "order"
        modified = payload.get("date_modified_gmt") or payload.get("date_modified") or ""
        if payload.get("id") is not None:
            return f"{resource}:{payload['id']}:{modified}"[:300]
    elif headers.get("X-Event-Id"):
        return f"event:{headers['X-Event-Id']}"[:300]
    return "sha256:" + hashlib.sha256(body).hexdigest()


def topic(platform: str, headers, payload: dict) -> str:
    """The delivery's topic (``orders/updated``, ``order.updated``...), for the inbox's listing."""
    value = (
        {
            "shopify": headers.get("X-Shopify-Topic"),
            "woocommerce": headers.get("X-WC-Webhook-Topic"),
        }.get(platform)
        or headers.get("X-Topic")
        or payload.get("topic")
    )
    return str(value or "")[:100]


def parse(body: bytes) -> dict | None:
    """The body as a JSON object, or None."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
