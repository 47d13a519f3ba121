"""Messages this plugin sends customers (the recall text, the apology for a stalled parcel),
through the core's messaging (``send_message``) on the channel ``ECOMMERCE_MESSAGE_CHANNEL``.

The core decides consent: a recall is ``marketing`` (refused, and recorded as refused, without
the customer's marketing consent or after an opt-out), an apology is ``service``. Each send has
an idempotency key of its run or parcel, so a job run twice queues one message. Without a
channel configured, or when the core cannot queue it (no phone, unknown channel), the text is
logged and the caller goes on: the run or the alert is not undone for a message.
"""

from __future__ import annotations

import logging

from flask import current_app

from crm_core.plugin_api import send_message_if_configured

log = logging.getLogger(__name__)


def send(text: str, customer_id: int | None, purpose: str, key: str, actor) -> int | None:
    """Queue ``text`` to the customer; the delivery id, or None when nothing was queued."""
    channel = current_app.config.get("ECOMMERCE_MESSAGE_CHANNEL") or ""
    if customer_id is None:
        log.info("ecommerce: %s message without a customer: %s", purpose, text)
        return None
    return send_message_if_configured(
        channel,
        {"customer_id": customer_id},
        {"kind": "text", "text": text},
        purpose=purpose,
        customer_id=customer_id,
        key=key,
        actor=actor,
    )
