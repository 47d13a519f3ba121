"""Inbound webhooks for integrations: a per-app registry plugins fill at startup.

A plugin registers a source in its ``crm_startup`` hook::

    from crm_core.webhooks import register_inbound

    @hookimpl
    def crm_startup(app):
        register_inbound(app, "shop", secret=lambda: app.config["SHOP_WEBHOOK_SECRET"],
                         handler=handle_shop_event)

The sender posts to ``POST /api/v1/webhooks/inbound/<source>`` with Standard Webhooks headers
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``). The core verifies the signature
(several secrets may be valid during a rotation), refuses timestamps outside the replay window,
and calls ``handler(payload, message_id)`` at most once per ``webhook-id``: the receipt row and
the handler's writes commit in one transaction, so a sender's retry after a success is
acknowledged without processing, and a retry after a failure is processed again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import peewee as pw

from ..db import database
from ..errors import APIError
from .models import InboundWebhook
from .signing import DEFAULT_TOLERANCE_SECONDS, SignatureError, verify

SOURCE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,99}$")
EXTENSION_KEY = "crm_inbound_webhooks"


@dataclass(frozen=True)
class InboundSource:
    """A registered sender: where its secret comes from and what handles its payloads."""

    name: str
    secret: Callable[[], str | list[str]] | str | list[str]
    handler: Callable[[dict, str], object]
    tolerance: int = DEFAULT_TOLERANCE_SECONDS

    def secrets(self) -> list[str]:
        value = self.secret() if callable(self.secret) else self.secret
        values = [value] if isinstance(value, str) else list(value or [])
        return [v for v in values if v]


def register_inbound(
    app,
    name: str,
    *,
    secret: Callable[[], str | list[str]] | str | list[str],
    handler: Callable[[dict, str], object],
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> InboundSource:
    """Accept webhooks from ``name`` at ``/api/v1/webhooks/inbound/<name>``.

    ``secret``: a ``whsec_`` secret, a list of them, or a callable returning either (read at each
    request, so it can come from config). ``handler(payload, message_id)`` runs inside the
    transaction that records the receipt; raise ``APIError(422, ...)`` for a payload it rejects
    (the sender should not retry) and anything else for a temporary failure (answered 503, so the
    sender retries). ``tolerance``: the replay window in seconds. Raises ``ValueError`` on a bad or
    duplicate name.
    """
    if not SOURCE_RE.match(name):
        raise ValueError(f"inbound webhook source {name!r}: use lower-case letters, digits, _ . -")
    registry = app.extensions.setdefault(EXTENSION_KEY, {})
    if name in registry:
        raise ValueError(f"inbound webhook source {name!r} is already registered")
    registry[name] = InboundSource(name, secret, handler, tolerance)
    return registry[name]


def inbound_sources(app) -> dict[str, InboundSource]:
    """The registered sources of ``app`` by name."""
    return dict(app.extensions.get(EXTENSION_KEY, {}))


def receive(app, name: str, headers, body: bytes) -> tuple[dict, int]:
    """Verify and process one inbound request; returns (JSON answer, HTTP status)."""
    source = inbound_sources(app).get(name)
    if source is None:
        raise APIError(404, f"No inbound webhook source {name!r}.")
    secrets_ = source.secrets()
    if not secrets_:
        raise APIError(503, f"Inbound webhook source {name!r} has no secret configured.")
    try:
        message_id = verify(secrets_, headers, body, tolerance=source.tolerance)
    except SignatureError as exc:
        raise APIError(401, f"Webhook rejected: {exc}.") from None
    if len(message_id) > 200:
        raise APIError(400, "webhook-id is longer than 200 characters.")
    try:
        payload = json.loads(body)
    except ValueError:
        raise APIError(400, "The body is not JSON.") from None
    if not isinstance(payload, dict):
        raise APIError(400, "The body must be a JSON object.")
    event_type = payload.get("type") if isinstance(payload.get("type"), str) else None
    try:
        with database.atomic():
            try:
                with database.atomic():
                    InboundWebhook.create(
                        source=name, external_id=message_id, event_type=(event_type or "")[:150] or None
                    )
            except pw.IntegrityError:
                return {"status": "duplicate", "id": message_id}, 200
            source.handler(payload, message_id)
    except APIError:
        raise
    except Exception as exc:
        app.logger.exception("inbound webhook %s %s failed", name, message_id)
        raise APIError(
            503, f"The webhook could not be processed now ({type(exc).__name__}); retry later."
        ) from None
    return {"status": "processed", "id": message_id}, 200
