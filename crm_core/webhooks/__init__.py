"""Webhooks: outbound subscriptions (Standard Webhooks signatures, retries, delivery log) and
inbound endpoints for integrations.

Public API: ``register_inbound(app, name, secret=..., handler=...)`` for plugins receiving
webhooks; ``signing.sign``/``signing.verify``/``signing.generate_secret``; ``outbound.deliver_due``
(the scheduler job) and ``outbound.enqueue`` (the "send webhook" automation action).
"""

from __future__ import annotations

from .inbound import inbound_sources, register_inbound

__all__ = ["inbound_sources", "register_inbound"]
