"""Reactions to other plugins' events: ``order.paid`` earns, ``order.refunded`` reverses.

Payloads are those of docs/events.md. A malformed payload is logged and skipped (retrying would
not fix it); anything else raises so that the dispatcher retries, which is safe because every
activity is idempotent on its reference.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal, InvalidOperation

from crm_core.plugin_api import database

from . import activities, ledger
from .ledger import to_naive_utc
from .models import Member

log = logging.getLogger(__name__)


def parse_time(value) -> dt.datetime | None:
    """An ISO 8601 string (``...Z`` or with an offset) as a naive UTC datetime."""
    if value is None or isinstance(value, dt.datetime):
        return to_naive_utc(value)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return to_naive_utc(parsed)


def _payload(event) -> tuple[int, str, Decimal, dt.datetime | None] | None:
    data = event.data or {}
    try:
        customer_id = int(data["customer_id"])
        order_id = str(data["order_id"])
        amount = Decimal(str(data["amount"]))
        when = parse_time(data.get("paid_at"))
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        log.warning("loyalty: ignoring %s %s with a malformed payload: %r", event.type, event.id, exc)
        return None
    if amount < 0:
        log.warning("loyalty: ignoring %s %s with a negative amount", event.type, event.id)
        return None
    return customer_id, order_id, amount, when


def on_order_paid(event) -> None:
    """Earn points for a paid order (enrolling the customer if the programme auto-enrols)."""
    parsed = _payload(event)
    if parsed is None:
        return
    customer_id, order_id, amount, when = parsed
    member = Member.get_or_none(Member.customer_id == customer_id)
    if member is None:
        if not ledger.program().auto_enrol:
            return
        if not activities.customer_exists(customer_id):
            # members need an existing customer (a foreign key); a retry would not create one
            log.warning("loyalty: ignoring %s %s for unknown customer %s", event.type, event.id, customer_id)
            return
        with database.atomic():
            member, _ = activities.enrol(customer_id, channel=str((event.data or {}).get("channel") or ""))
    activities.apply(
        member, {"kind": "purchase", "reference": order_id, "amount": amount, "occurred_at": when}
    )


def on_order_refunded(event) -> None:
    """Reverse the points of a refunded order (in proportion for a partial refund)."""
    parsed = _payload(event)
    if parsed is None:
        return
    customer_id, order_id, amount, _when = parsed
    member = Member.get_or_none(Member.customer_id == customer_id)
    if member is None:
        return
    refund_id = (event.data or {}).get("refund_id") or event.id
    try:
        activities.apply(
            member,
            {"kind": "refund", "reference": str(refund_id), "order_reference": order_id, "amount": amount},
        )
    except Exception as exc:
        from crm_core.plugin_api import APIError

        if isinstance(exc, APIError) and exc.code in (409, 422):
            log.warning("loyalty: refund %s of order %s not applied: %s", refund_id, order_id, exc.message)
            return
        raise
