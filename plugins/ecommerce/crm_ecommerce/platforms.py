"""Platform payloads read into one canonical order (what :mod:`crm_ecommerce.orders` applies).

The canonical order is a dict::

    {"external_id": "1001", "number": "#1001", "status": "paid", "currency": "CNY",
     "subtotal": Decimal, "shipping": Decimal, "discount": Decimal, "total": Decimal,
     "placed_at": datetime, "updated_at": datetime (the platform's clock), "paid_at"?: datetime,
     "customer": {"external_id"?, "email"?, "phone"?, "name"?},
     "lines": [{"external_id", "sku", "name", "category", "quantity", "unit_price", "discount"}],
     "refunds": [{"external_id", "amount", "reason", "refunded_at"}], "coupon_codes": [...],
     "channel"?: str}

The generic platform posts that shape as JSON (amounts as decimal strings, times ISO 8601).
Anything that cannot be read raises ``ValueError`` with the reason: the delivery is then marked
failed with it (a retry of the same bytes would fail alike).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from .models import STATUSES

CENT = Decimal("0.01")


def money(value, default: str = "0") -> Decimal:
    """A non-negative amount as a Decimal with cents (``"19.9"`` -> ``19.90``)."""
    try:
        amount = Decimal(str(value if value not in (None, "") else default)).quantize(CENT)
    except (InvalidOperation, ValueError):
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return abs(amount)


def when(value) -> dt.datetime | None:
    """An ISO 8601 time (``Z``, an offset, or naive UTC) as naive UTC; None for none."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not a time: {value!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _text(value, limit: int) -> str:
    return str(value if value is not None else "")[:limit]


def customer(external_id, email, phone, name) -> dict:
    """The canonical ``customer`` of an order (e-mail lower-cased, blanks as None)."""
    return {
        "external_id": _text(external_id, 100) or None,
        "email": (email or "").strip().lower() or None,
        "phone": (phone or "").strip() or None,
        "name": (name or "").strip()[:200] or None,
    }


def _required_time(payload: dict, *keys) -> dt.datetime:
    for key in keys:
        value = when(payload.get(key))
        if value is not None:
            return value
    raise ValueError(f"the order has no {keys[0]}")


def shopify(payload: dict) -> dict:
    """A Shopify order (REST ``orders/*`` webhook or ``GET /orders.json`` item)."""
    if payload.get("id") is None:
        raise ValueError("the order has no id")
    financial = payload.get("financial_status") or "pending"
    fulfilled = payload.get("fulfillment_status") == "fulfilled"
    delivered = any(
        (f or {}).get("shipment_status") == "delivered" for f in payload.get("fulfillments") or []
    )
    if payload.get("cancelled_at"):
        status = "cancelled"
    elif financial == "refunded":
        status = "refunded"
    elif financial == "partially_refunded":
        status = "partially_refunded"
    elif delivered:
        status = "delivered"
    elif fulfilled:
        status = "shipped"
    elif financial == "paid":
        status = "paid"
    else:
        status = "pending"
    buyer = payload.get("customer") or {}
    name = " ".join(p for p in (buyer.get("first_name"), buyer.get("last_name")) if p)
    refunds = []
    for refund in payload.get("refunds") or []:
        amount = sum(
            (money(t.get("amount")) for t in refund.get("transactions") or [] if t.get("kind") == "refund"),
            Decimal("0.00"),
        )
        refunds.append(
            {
                "external_id": _text(refund.get("id"), 100),
                "amount": amount,
                "reason": _text(refund.get("note"), 500),
                "refunded_at": when(refund.get("created_at")),
            }
        )
    return {
        "external_id": _text(payload["id"], 100),
        "number": _text(payload.get("name") or payload.get("order_number"), 100),
        "status": status,
        "currency": _text(payload.get("currency") or "", 3).upper(),
        "subtotal": money(payload.get("subtotal_price")),
        "shipping": money(
            (payload.get("total_shipping_price_set") or {}).get("shop_money", {}).get("amount")
        ),
        "discount": money(payload.get("total_discounts")),
        "total": money(payload.get("total_price")),
        "placed_at": _required_time(payload, "created_at"),
        "updated_at": _required_time(payload, "updated_at", "created_at"),
        "paid_at": when(payload.get("processed_at")) if financial != "pending" else None,
        "customer": customer(
            buyer.get("id"),
            payload.get("email") or buyer.get("email"),
            payload.get("phone") or buyer.get("phone"),
            name,
        ),
        "lines": [
            {
                "external_id": _text(line.get("id"), 100),
                "sku": _text(line.get("sku"), 100),
                "name": _text(line.get("title") or line.get("name"), 300),
                "category": _text(line.get("product_type"), 100),
                "quantity": int(line.get("quantity") or 0),
                "unit_price": money(line.get("price")),
                "discount": money(line.get("total_discount")),
            }
            for line in payload.get("line_items") or []
        ],
        "refunds": refunds,
        "coupon_codes": [
            _text(d.get("code"), 64) for d in payload.get("discount_codes") or [] if d.get("code")
        ],
        "channel": _text(payload.get("source_name"), 100),
    }


WOO_STATUS = {
    "pending": "pending",
    "on-hold": "pending",
    "failed": "pending",
    "processing": "paid",
    "completed": "delivered",
    "cancelled": "cancelled",
    "refunded": "refunded",
}


def woocommerce(payload: dict) -> dict:
    """A WooCommerce order (``order.*`` webhook or ``GET /wp-json/wc/v3/orders`` item)."""
    if payload.get("id") is None:
        raise ValueError("the order has no id")
    status = WOO_STATUS.get(payload.get("status") or "pending", "pending")
    refunds = [
        {
            "external_id": _text(r.get("id"), 100),
            "amount": money(r.get("total")),  # Woo lists refunds with negative totals
            "reason": _text(r.get("reason"), 500),
            "refunded_at": None,
        }
        for r in payload.get("refunds") or []
    ]
    total = money(payload.get("total"))
    refunded = sum((r["amount"] for r in refunds), Decimal("0.00"))
    if status != "refunded" and refunds and refunded < total:
        status = "partially_refunded"
    billing = payload.get("billing") or {}
    name = " ".join(p for p in (billing.get("first_name"), billing.get("last_name")) if p)
    customer_id = payload.get("customer_id")
    return {
        "external_id": _text(payload["id"], 100),
        "number": _text(payload.get("number") or payload["id"], 100),
        "status": status,
        "currency": _text(payload.get("currency") or "", 3).upper(),
        "subtotal": sum(
            (money(line.get("subtotal")) for line in payload.get("line_items") or []), Decimal("0.00")
        ),
        "shipping": money(payload.get("shipping_total")),
        "discount": money(payload.get("discount_total")),
        "total": total,
        "placed_at": _required_time(payload, "date_created_gmt", "date_created"),
        "updated_at": _required_time(payload, "date_modified_gmt", "date_modified", "date_created_gmt"),
        "paid_at": when(payload.get("date_paid_gmt")),
        "customer": customer(
            customer_id if customer_id else None, billing.get("email"), billing.get("phone"), name
        ),
        "lines": [
            {
                "external_id": _text(line.get("id"), 100),
                "sku": _text(line.get("sku"), 100),
                "name": _text(line.get("name"), 300),
                "category": "",
                "quantity": int(line.get("quantity") or 0),
                "unit_price": money(line.get("price")),
                "discount": money(line.get("subtotal") or 0) - money(line.get("total") or 0)
                if line.get("subtotal") is not None and line.get("total") is not None
                else Decimal("0.00"),
            }
            for line in payload.get("line_items") or []
        ],
        "refunds": refunds,
        "coupon_codes": [
            _text(c.get("code"), 64) for c in payload.get("coupon_lines") or [] if c.get("code")
        ],
        "channel": _text(payload.get("created_via"), 100),
    }


def generic(payload: dict) -> dict:
    """An order already in the canonical shape (amounts as strings, times ISO 8601)."""
    if payload.get("external_id") in (None, ""):
        raise ValueError("the order has no external_id")
    status = payload.get("status") or "pending"
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    lines = []
    for index, line in enumerate(payload.get("lines") or []):
        quantity = int(line.get("quantity") or 0)
        if quantity < 0:
            raise ValueError("a line has a negative quantity")
        lines.append(
            {
                "external_id": _text(line.get("external_id") or index + 1, 100),
                "sku": _text(line.get("sku"), 100),
                "name": _text(line.get("name"), 300),
                "category": _text(line.get("category"), 100),
                "quantity": quantity,
                "unit_price": money(line.get("unit_price")),
                "discount": money(line.get("discount")),
            }
        )
    buyer = payload.get("customer") or {}
    return {
        "external_id": _text(payload["external_id"], 100),
        "number": _text(payload.get("number") or payload["external_id"], 100),
        "status": status,
        "currency": _text(payload.get("currency") or "", 3).upper(),
        "subtotal": money(payload.get("subtotal"), "0"),
        "shipping": money(payload.get("shipping")),
        "discount": money(payload.get("discount")),
        "total": money(payload.get("total")),
        "placed_at": _required_time(payload, "placed_at", "updated_at"),
        "updated_at": _required_time(payload, "updated_at", "placed_at"),
        "paid_at": when(payload.get("paid_at")),
        "customer": customer(
            buyer.get("external_id"), buyer.get("email"), buyer.get("phone"), buyer.get("name")
        ),
        "lines": lines,
        "refunds": [
            {
                "external_id": _text(r.get("external_id"), 100),
                "amount": money(r.get("amount")),
                "reason": _text(r.get("reason"), 500),
                "refunded_at": when(r.get("refunded_at")),
            }
            for r in payload.get("refunds") or []
        ],
        "coupon_codes": [_text(c, 64) for c in payload.get("coupon_codes") or [] if c],
        "channel": _text(payload.get("channel"), 100),
    }


READERS = {"shopify": shopify, "woocommerce": woocommerce, "generic": generic}


def canonical(platform: str, payload: dict) -> dict:
    """``payload`` of ``platform`` as the canonical order (``ValueError`` when unreadable)."""
    try:
        order = READERS[platform](payload)
    except (TypeError, AttributeError, KeyError) as exc:
        raise ValueError(f"unreadable order: {exc!r}") from None
    return order
