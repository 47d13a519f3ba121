"""Flash sales: reserve, confirm, release, expire, and what is still available.

- ``reserve`` locks the sale's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write
  transaction is IMMEDIATE, one writer at a time), counts what is taken *as of now* and inserts
  the hold only when it fits: reservers of one sale queue on that row, so stock is never
  oversold, and the per-customer limit is checked under the same lock.
- A hold counts while ``expires_at > now``. ``expire`` (the job ``ecommerce:flash_expire``)
  marks the old ones ``expired`` for the record; availability never waits for it.
- ``on_order`` is called by :func:`crm_ecommerce.orders.apply`: a paid order confirms the
  customer's holds on its lines' SKUs (or the holds naming the order), a cancelled or refunded
  one releases its reservations. A hold whose time ran out before the payment is confirmed
  only if the stock is still there; else it stays expired.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import gettext as _

from crm_core.plugin_api import (
    APIError,
    is_postgres,
    record_dict,
    record_written,
    utcnow,
    write_transaction,
)

from .flash_models import FlashReservation, FlashSale
from .models import RELEASING, Order, OrderLine

RESOURCE = "ecommerce.flash_sales"
DEFAULT_HOLD_MINUTES = 15
PAID = ("paid", "shipped", "delivered", "partially_refunded")


def hold_minutes(sale: FlashSale) -> int:
    """The sale's own hold time, else ``ECOMMERCE_HOLD_MINUTES``."""
    if sale.hold_minutes:
        return sale.hold_minutes
    return int(current_app.config.get("ECOMMERCE_HOLD_MINUTES") or DEFAULT_HOLD_MINUTES)


def _taken(sale_id: int, now: dt.datetime, customer_id: int | None = None) -> int:
    """Units confirmed or held with time left, of the sale (of one customer when given)."""
    query = FlashReservation.select(FlashReservation.quantity).where(
        FlashReservation.sale == sale_id,
        (FlashReservation.status == "confirmed")
        | ((FlashReservation.status == "held") & (FlashReservation.expires_at > now)),
    )
    if customer_id is not None:
        query = query.where(FlashReservation.customer_id == customer_id)
    return sum(quantity for (quantity,) in query.tuples())


def counts(sale_ids: list[int], now: dt.datetime | None = None) -> dict[int, dict]:
    """``{sale id: {"reserved", "sold"}}``: live holds and confirmed units, as of ``now``."""
    now = now or utcnow()
    result = {sale_id: {"reserved": 0, "sold": 0} for sale_id in sale_ids}
    rows = FlashReservation.select(
        FlashReservation.sale_id, FlashReservation.status, FlashReservation.quantity
    ).where(
        FlashReservation.sale.in_(sale_ids or [0]),
        (FlashReservation.status == "confirmed")
        | ((FlashReservation.status == "held") & (FlashReservation.expires_at > now)),
    )
    for sale_id, status, quantity in rows.tuples():
        result[sale_id]["sold" if status == "confirmed" else "reserved"] += quantity
    return result


def attach_counts(sales: list[FlashSale]) -> None:
    """Set ``reserved``, ``sold`` and ``available`` on each sale (a list page at once)."""
    found = counts([s.id for s in sales])
    for sale in sales:
        sale.reserved, sale.sold = found[sale.id]["reserved"], found[sale.id]["sold"]
        sale.available = max(0, sale.stock - sale.reserved - sale.sold)


def _locked(sale_id: int) -> FlashSale:
    query = FlashSale.select().where(FlashSale.id == sale_id)
    if is_postgres():
        query = query.for_update()
    return query.get()


def _refuse(message: str, field: str = "quantity", reason: str = "sold_out"):
    raise APIError(409, message, errors={field: [message]}, reason=reason)


def reserve(sale: FlashSale, customer_id: int, quantity: int, actor, order_id=None, key=None):
    """Hold ``quantity`` units for the customer; ``(reservation, created)``. 409 when the sale
    is not open, the stock is gone or the customer's limit would be passed."""
    with write_transaction():
        sale = _locked(sale.id)
        if key:  # under the sale's lock: a racing retry with the same key finds the first one
            found = FlashReservation.get_or_none(
                FlashReservation.sale == sale.id, FlashReservation.key == key
            )
            if found is not None:
                return found, False
        now = utcnow()
        if not sale.active or not sale.starts_at <= now < sale.ends_at:
            _refuse(_("The flash sale is not open."), "sale", "closed")
        if sale.per_customer_limit and _taken(sale.id, now, customer_id) + quantity > sale.per_customer_limit:
            _refuse(_("At most %(n)s per customer.", n=sale.per_customer_limit), "quantity", "customer_limit")
        if _taken(sale.id, now) + quantity > sale.stock:
            _refuse(_("Not enough stock left."))
        reservation = FlashReservation.create(
            sale=sale.id,
            customer_id=customer_id,
            quantity=quantity,
            expires_at=now + dt.timedelta(minutes=hold_minutes(sale)),
            order_id=order_id,
            key=key or None,
        )
        record_written(
            "reserve", RESOURCE, sale, actor, None, record_dict(reservation), extra={"event": False}
        )
        return reservation, True


def _finish(reservation: FlashReservation, status: str, actor, order_id=None) -> None:
    before = record_dict(reservation)
    reservation.status, reservation.finished_at = status, utcnow()
    if order_id is not None:
        reservation.order_id = order_id
    reservation.save()
    sale = FlashSale.get_by_id(reservation.sale_id)
    record_written(status, RESOURCE, sale, actor, before, record_dict(reservation), extra={"event": False})


def release(reservation_id: int, actor) -> FlashReservation:
    """Give a held or confirmed reservation's units back (idempotent: a finished one is kept)."""
    with write_transaction():
        reservation = FlashReservation.get_by_id(reservation_id)
        _locked(reservation.sale_id)
        reservation = FlashReservation.get_by_id(reservation_id)
        if reservation.status in ("held", "confirmed"):
            _finish(reservation, "released", actor)
        return reservation


def expire(now: dt.datetime) -> int:
    """Mark the holds whose time is up ``expired`` (availability already ignores them)."""
    with write_transaction():
        return (
            FlashReservation.update(status="expired", finished_at=now)
            .where(FlashReservation.status == "held", FlashReservation.expires_at <= now)
            .execute()
        )


def _confirm(reservation: FlashReservation, order: Order, actor, now: dt.datetime) -> None:
    sale = _locked(reservation.sale_id)
    reservation = FlashReservation.get_by_id(reservation.id)
    if reservation.status != "held":
        return
    if reservation.expires_at <= now and _taken(sale.id, now) + reservation.quantity > sale.stock:
        _finish(reservation, "expired", actor)  # paid too late: its units went to someone else
        return
    _finish(reservation, "confirmed", actor, order.id)


def on_order(order: Order, actor) -> None:
    """Confirm the holds a paid order settles; release the reservations of a cancelled one."""
    if order.status in RELEASING:
        for reservation in FlashReservation.select().where(
            FlashReservation.order_id == order.id, FlashReservation.status.in_(("held", "confirmed"))
        ):
            _locked(reservation.sale_id)
            _finish(FlashReservation.get_by_id(reservation.id), "released", actor)
        return
    if order.status not in PAID:
        return
    now = utcnow()
    named = list(
        FlashReservation.select().where(
            FlashReservation.order_id == order.id, FlashReservation.status == "held"
        )
    )
    for reservation in named:
        _confirm(reservation, order, actor, now)
    if order.customer_id is None or named:
        return
    wanted = {}
    for line in OrderLine.select(OrderLine.sku, OrderLine.quantity).where(OrderLine.order == order.id):
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    sales = FlashSale.select().where(FlashSale.sku.in_(list(wanted) or [""]))
    for sale in sales:
        if sale.shop_id not in (None, order.shop_id):
            continue
        holds = (
            FlashReservation.select()
            .where(
                FlashReservation.sale == sale.id,
                FlashReservation.customer_id == order.customer_id,
                FlashReservation.status == "held",
                FlashReservation.order_id.is_null(),
            )
            .order_by(FlashReservation.id)
        )
        left = wanted[sale.sku]
        for reservation in holds:
            if reservation.quantity > left:
                break
            left -= reservation.quantity
            _confirm(reservation, order, actor, now)
