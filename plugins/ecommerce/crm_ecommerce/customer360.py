"""What the customer 360 page shows of a customer's orders: the recent ones and lifetime value.

Read with the viewer's permissions (``scoped``): a viewer sees the orders of the shops their row
scope covers, and the lifetime value is the sum over those orders only, so a figure never
reveals orders the viewer may not read. Lifetime value counts paid orders (paid, shipped,
delivered, partly refunded) at their total less what was refunded, per currency.
"""

from __future__ import annotations

from decimal import Decimal

import peewee as pw

from crm_core.plugin_api import can, scoped

from .models import Order, Shop

ORDERS = "ecommerce.orders"
VALUED = ("paid", "shipped", "delivered", "partially_refunded", "refunded")
RECENT = 10


def summary(customer_id: int, actor) -> dict | None:
    """``{"orders": [...recent], "count", "lifetime_value": {currency: Decimal}}``, or None when the
    actor may not read orders."""
    if actor is None or not can(actor, ORDERS, "read"):
        return None
    base = scoped(Order.select(), actor, ORDERS, "read").where(Order.customer_id == customer_id)
    recent = list(
        base.select(Order, Shop.name.alias("shop_name"))
        .join(Shop, on=(Order.shop == Shop.id))
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(RECENT)
        .objects()
    )
    totals = (
        scoped(
            Order.select(
                Order.currency,
                pw.fn.SUM(Order.total - Order.refunded).alias("value"),
                pw.fn.COUNT(Order.id).alias("n"),
            ),
            actor,
            ORDERS,
            "read",
        )
        .where(Order.customer_id == customer_id, Order.status.in_(VALUED))
        .group_by(Order.currency)
        .tuples()
    )
    value = {currency: Decimal(str(amount or 0)).quantize(Decimal("0.01")) for currency, amount, _n in totals}
    return {"orders": recent, "count": base.count(), "lifetime_value": value}
