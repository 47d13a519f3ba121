"""Reminders to guardians through the core's messaging (``send_message``) on the channel
``EDUCATION_MESSAGE_CHANNEL``: a trial lesson starting soon, lesson hours running low or a
package about to expire (purpose ``service``: they are about a service the family bought or
booked, not marketing).

The recipient is the student's guardian (``education_guardian_phone``), else the customer
themselves. Each reminder has an idempotency key of its trial or package and reason, so a job
run twice queues one message. Without a channel, or when the core cannot queue it (no phone, an
unknown channel), the text is logged and the job goes on: the event and the mark that the
reminder went out are not undone for a message.
"""

from __future__ import annotations

import logging

from crm_core.plugin_api import Customer, send_message_if_configured

from . import settings

log = logging.getLogger(__name__)


def recipient(customer: Customer) -> dict:
    """Whom a reminder about ``customer`` goes to: the guardian's phone, else the customer."""
    phone = (customer.custom or {}).get("education_guardian_phone")
    return {"phone": phone, "customer_id": customer.id} if phone else {"customer_id": customer.id}


def remind(customer: Customer, text: str, key: str, actor) -> int | None:
    """Queue ``text`` for the customer's guardian; the delivery id, or None when none was queued."""
    return send_message_if_configured(
        settings.get("MESSAGE_CHANNEL"),
        recipient(customer),
        {"kind": "text", "text": text},
        purpose="service",
        customer_id=customer.id,
        key=key,
        actor=actor,
    )
