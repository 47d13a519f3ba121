"""Applying a canonical order (:mod:`crm_ecommerce.platforms`): upsert, history, events.

One entry point, :func:`apply`, used by webhooks, pull sync and the API alike:

- the order is upserted on (shop, external id) under its row lock, and only when the platform's
  ``updated_at`` is NEWER than the stored one: a retry or an out-of-order delivery is a no-op
  (``stale``), never a roll-back;
- lines are upserted on (order, external line id) and lines the platform dropped are deleted;
  refunds are append-only on (order, external refund id);
- each status change is a ``StatusChange`` row; the business events (``order.created``,
  ``order.paid``, ``order.shipped``, ``order.delivered``, ``order.refunded``,
  ``order.cancelled``) are emitted in the write's transaction, each once per order (``paid_at``,
  ``shipped_at``... are set once, and an event is emitted only when its time is first set);
- a cancelled or fully refunded order releases its coupons (idempotently);
- a paid order confirms its customer's flash-sale holds, a cancelled one releases them
  (:mod:`crm_ecommerce.flash`).

Writes go through the core's write path (``create_record`` / ``update_record``) as resource
``ecommerce.orders``; a write that emits business events passes ``extra={"event": False}`` so the
outbox gets those, not also a record event.
"""

from __future__ import annotations

from decimal import Decimal

from crm_core.plugin_api import create_record, emit, is_postgres, update_record, utcnow, write_transaction

from . import coupons, flash, identity
from .models import RELEASING, Order, OrderLine, Refund, Shop, StatusChange

RESOURCE = "ecommerce.orders"
CENT = Decimal("0.01")
PAID = ("paid", "shipped", "delivered", "partially_refunded", "refunded")
SHIPPED = ("shipped", "delivered")
COLUMNS = (
    "number",
    "status",
    "currency",
    "subtotal",
    "shipping",
    "discount",
    "total",
    "placed_at",
    "channel",
)


def _locked(shop: Shop, external_id: str) -> Order | None:
    query = Order.select().where(Order.shop == shop.id, Order.external_id == external_id)
    if is_postgres():
        query = query.for_update()
    return query.first()


def _milestones(order: Order | None, incoming: dict) -> dict:
    """The ``*_at`` columns this state sets for the first time (each is set once)."""
    status, at = incoming["status"], incoming["updated_at"]
    values = {}
    if status in PAID and (order is None or order.paid_at is None):
        values["paid_at"] = incoming.get("paid_at") or at
    if status in SHIPPED and (order is None or order.shipped_at is None):
        values["shipped_at"] = at
    if status == "delivered" and (order is None or order.delivered_at is None):
        values["delivered_at"] = at
    if status == "cancelled" and (order is None or order.cancelled_at is None):
        values["cancelled_at"] = at
    return values


def _write_lines(order: Order, lines: list[dict]) -> None:
    now = utcnow()
    seen = []
    for line in lines:
        seen.append(line["external_id"])
        values = {k: line[k] for k in ("sku", "name", "category", "quantity", "unit_price", "discount")}
        (
            OrderLine.insert(
                order=order.id, external_id=line["external_id"], created_at=now, updated_at=now, **values
            )
            .on_conflict(
                conflict_target=[OrderLine.order, OrderLine.external_id],
                update={**{getattr(OrderLine, k): v for k, v in values.items()}, OrderLine.updated_at: now},
            )
            .execute()
        )
    OrderLine.delete().where(
        OrderLine.order == order.id, OrderLine.external_id.not_in(seen or [""])
    ).execute()


def _new_refunds(order: Order, refunds: list[dict]) -> list[Refund]:
    """Insert the refunds not stored yet (the order's row is locked); the ones inserted now."""
    known = {r.external_id for r in Refund.select(Refund.external_id).where(Refund.order == order.id)}
    added = []
    for refund in refunds:
        if not refund["external_id"] or refund["amount"] <= 0 or refund["external_id"] in known:
            continue
        known.add(refund["external_id"])
        added.append(
            Refund.create(
                order=order.id,
                external_id=refund["external_id"],
                amount=refund["amount"],
                reason=refund.get("reason") or "",
                refunded_at=refund.get("refunded_at") or utcnow(),
            )
        )
    return added


def cents(value) -> Decimal:
    """An amount with two decimals (SQLite hands back ``Decimal("50")`` for 50.00)."""
    return Decimal(str(value or 0)).quantize(CENT)


def payload(order: Order, amount: Decimal | None = None) -> dict:
    """The data of an ``order.*`` event (docs/events.md)."""
    lines = list(OrderLine.select().where(OrderLine.order == order.id).order_by(OrderLine.id))
    return {
        "order_id": order.id,
        "external_id": order.external_id,
        "number": order.number,
        "shop_id": order.shop_id,
        "customer_id": order.customer_id,
        "status": order.status,
        "amount": cents(amount if amount is not None else order.total),
        "total": cents(order.total),
        "currency": order.currency,
        "paid_at": order.paid_at,
        "channel": order.channel,
        "items": [
            {
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": cents(line.unit_price),
                "category": line.category,
            }
            for line in lines
        ],
        "owner_id": order.owner_id,
        "department_id": order.department_id,
    }


def _emit(event_type: str, data: dict, actor) -> None:
    emit(event_type, data, actor=actor, resource=RESOURCE, record_id=data["order_id"])


def _announce(order: Order, created: bool, milestones: dict, refunds: list[Refund], actor) -> None:
    if order.customer_id is None:
        return  # a guest order: the order events promise a CRM customer (docs/events.md)
    if created:
        _emit("order.created", payload(order), actor)
    if "paid_at" in milestones:
        _emit("order.paid", payload(order), actor)
    if "shipped_at" in milestones:
        _emit("order.shipped", {**payload(order), "shipped_at": order.shipped_at}, actor)
    if "delivered_at" in milestones:
        _emit("order.delivered", {**payload(order), "delivered_at": order.delivered_at}, actor)
    for refund in refunds:
        data = payload(order, refund.amount)
        data.update(
            refund_id=f"ecommerce-refund-{refund.id}",
            reason=refund.reason,
            paid_at=refund.refunded_at,
            refunded_total=cents(order.refunded),
        )
        _emit("order.refunded", data, actor)
    if "cancelled_at" in milestones:
        _emit("order.cancelled", {**payload(order), "cancelled_at": order.cancelled_at}, actor)


def _refund_status(status: str, refunded: Decimal, total: Decimal) -> str:
    """A refunded order reads ``partially_refunded`` or ``refunded`` by what was refunded,
    whatever the platform's own status says (a cancelled order stays cancelled)."""
    if refunded > 0 and status in ("paid", "shipped", "delivered", "partially_refunded"):
        return "refunded" if refunded >= total else "partially_refunded"
    return status


def apply(shop: Shop, incoming: dict, actor, source: str) -> tuple[Order | None, str]:
    """Apply the canonical order ``incoming`` of ``shop``; ``(order, outcome)`` where outcome is
    ``created``, ``updated`` or ``stale`` (the stored order is as new or newer: nothing done)."""
    with write_transaction():
        order = _locked(shop, incoming["external_id"])
        stored = order.source_updated_at if order is not None else None
        if stored is not None and incoming["updated_at"] <= stored:
            return order, "stale"
        customer_id = identity.resolve(shop, incoming.get("customer") or {}, actor)
        data = {k: incoming[k] for k in COLUMNS if k in incoming}
        data["currency"] = data.get("currency") or shop.currency
        data.update(
            customer_id=customer_id or (order.customer_id if order is not None else None),
            external_customer_id=(incoming.get("customer") or {}).get("external_id"),
            source_updated_at=incoming["updated_at"],
        )
        data.update(_milestones(order, incoming))
        before_status = order.status if order is not None else None
        if order is None:
            data.update(shop=shop.id, external_id=incoming["external_id"], department_id=shop.department_id)
            data["owner_id"] = shop.owner_id
            order = create_record(RESOURCE, Order, data, actor, extra={"event": False})
        else:
            order = update_record(RESOURCE, order, data, actor, extra={"event": False})
        _write_lines(order, incoming.get("lines") or [])
        refunds = _new_refunds(order, incoming.get("refunds") or [])
        refunded = sum((r.amount for r in Refund.select().where(Refund.order == order.id)), Decimal("0.00"))
        status = _refund_status(order.status, refunded, order.total)
        if refunded != order.refunded or status != order.status:
            changes = {"refunded": refunded, "status": status}
            order = update_record(RESOURCE, order, changes, actor, extra={"event": False})
        if order.status != before_status:
            StatusChange.create(
                order=order.id,
                from_status=before_status,
                to_status=order.status,
                source=source,
                source_updated_at=incoming["updated_at"],
                actor_id=getattr(actor, "id", None),
            )
        milestones = {k for k in data if k.endswith("_at") and k not in ("placed_at", "source_updated_at")}
        _announce(order, before_status is None, dict.fromkeys(milestones), refunds, actor)
        if order.status in RELEASING:
            coupons.release_order(order.id, actor)
        elif incoming.get("coupon_codes"):
            coupons.redeem_platform_codes(order, incoming["coupon_codes"], actor)
        flash.on_order(order, actor)
        return order, "created" if before_status is None else "updated"
