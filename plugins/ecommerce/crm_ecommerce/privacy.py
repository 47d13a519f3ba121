"""What the plugin holds about a person, for the privacy export and erasure.

Export: the customer's orders (with lines, refunds and status), their platform identities, the
coupon codes issued to them and their redemptions, their recall runs, flash-sale reservations
and portrait (RFM, tier, channels, rule tags). Erasure: orders are the business's accounting and
stay, but no longer name the person (``customer_id`` and the platform customer id cleared);
identity mappings, merge suggestions, codes issued to them, usage counters, recall runs, their
reservations and their portrait are deleted. It runs inside the core's erasure transaction.
"""

from __future__ import annotations

from decimal import Decimal

from .coupon_models import CouponCode, CouponRedemption, CouponUsage
from .flash_models import FlashReservation
from .models import Identity, MergeSuggestion, Order, OrderLine, Refund
from .portrait_models import CustomerProfile
from .recall_models import RecallRun


def _iso(value):
    return value.isoformat() + "Z" if value is not None else None


def export_customer(customer) -> dict | None:
    """Everything stored about ``customer``, JSON-ready; None when there is nothing."""
    orders = list(Order.select().where(Order.customer_id == customer.id).order_by(Order.id))
    identities = list(Identity.select().where(Identity.customer_id == customer.id))
    codes = list(CouponCode.select().where(CouponCode.customer_id == customer.id))
    redemptions = list(CouponRedemption.select().where(CouponRedemption.customer_id == customer.id))
    runs = list(RecallRun.select().where(RecallRun.customer_id == customer.id))
    holds = list(FlashReservation.select().where(FlashReservation.customer_id == customer.id))
    profile = CustomerProfile.get_or_none(CustomerProfile.customer_id == customer.id)
    if not (orders or identities or codes or redemptions or runs or holds or profile):
        return None
    return {
        "orders": [
            {
                "id": o.id,
                "shop_id": o.shop_id,
                "number": o.number,
                "status": o.status,
                "total": str(o.total),
                "currency": o.currency,
                "placed_at": _iso(o.placed_at),
                "lines": [
                    {
                        "sku": line.sku,
                        "name": line.name,
                        "quantity": line.quantity,
                        "unit_price": str(line.unit_price),
                    }
                    for line in OrderLine.select().where(OrderLine.order == o.id)
                ],
                "refunds": [
                    {"amount": str(r.amount), "reason": r.reason}
                    for r in Refund.select().where(Refund.order == o.id)
                ],
            }
            for o in orders
        ],
        "platform_identities": [{"shop_id": i.shop_id, "external_id": i.external_id} for i in identities],
        "coupon_codes": [{"code": c.code, "uses": c.uses, "expires_at": _iso(c.expires_at)} for c in codes],
        "coupon_redemptions": [
            {"order_id": r.order_id, "amount": str(r.amount), "status": r.status} for r in redemptions
        ],
        "recall_runs": [
            {"flow_id": r.flow_id, "status": r.status, "started_at": _iso(r.started_at)} for r in runs
        ],
        "flash_reservations": [
            {"sale_id": h.sale_id, "quantity": h.quantity, "status": h.status, "order_id": h.order_id}
            for h in holds
        ],
        "portrait": None
        if profile is None
        else {
            "orders": profile.orders,
            "spent": f"{Decimal(str(profile.spent)):.2f}",  # SQLite hands 210.00 back as 210
            "rfm": [profile.r, profile.f, profile.m],
            "loyalty_tier": profile.loyalty_tier,
            "channels": profile.channels,
            "rule_tags": profile.auto_tags,
        },
    }


def erase_customer(customer) -> None:
    """Unlink the person from the orders and delete what only describes them."""
    Order.update(customer_id=None, external_customer_id=None).where(
        Order.customer_id == customer.id
    ).execute()
    CouponRedemption.update(customer_id=None).where(CouponRedemption.customer_id == customer.id).execute()
    Identity.delete().where(Identity.customer_id == customer.id).execute()
    MergeSuggestion.delete().where(
        (MergeSuggestion.customer_a == customer.id) | (MergeSuggestion.customer_b == customer.id)
    ).execute()
    CouponCode.delete().where(CouponCode.customer_id == customer.id, CouponCode.uses == 0).execute()
    CouponCode.update(customer_id=None, active=False).where(CouponCode.customer_id == customer.id).execute()
    CouponUsage.delete().where(CouponUsage.customer_id == customer.id).execute()
    RecallRun.delete().where(RecallRun.customer_id == customer.id).execute()
    FlashReservation.delete().where(FlashReservation.customer_id == customer.id).execute()
    CustomerProfile.delete().where(CustomerProfile.customer_id == customer.id).execute()
