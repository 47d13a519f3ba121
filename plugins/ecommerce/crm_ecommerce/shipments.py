"""Parcels: tracking callbacks applied by checkpoint time, and alerts for parcels that stall.

A tracking callback (AfterShip's shape: ``{"msg": {"tracking_number", "slug", "tag", "subtag",
"order_id", "checkpoints": [{"checkpoint_time", "tag", "subtag", "message", "location"}]}}``)
comes through the shop's inbox like an order webhook. Its checkpoints are stored once each, and
the parcel's status is the one of its LATEST checkpoint by checkpoint time, so a late, older
callback never moves a parcel back (carriers retry too).

An alert opens a ticket for the customer's service team (through the tickets collection's own
write hooks: status flow, SLA, history) and emits ``shipment.stuck`` carrying the apology text,
and sends it through the core's messaging as a ``service`` message
(:mod:`crm_ecommerce.messages`). A parcel alerts once: at once when the carrier reports ``AttemptFail`` or
``Exception``, or when the job ``ecommerce:stuck_shipments`` finds it without progress for
``ECOMMERCE_STUCK_HOURS`` (48 by default) and neither delivered nor expired.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw
from flask import current_app
from flask_babel import gettext as _

from crm_core.plugin_api import (
    collections,
    create_record,
    emit,
    is_postgres,
    update_record,
    utcnow,
    write_transaction,
)

from . import messages
from .models import Order, Shop
from .platforms import when
from .shipment_models import ALARMING, FINAL, TAGS, Checkpoint, Shipment

RESOURCE = "ecommerce.shipments"
DEFAULT_STUCK_HOURS = 48


def stuck_hours() -> int:
    """Hours without a checkpoint after which a parcel is stuck (``ECOMMERCE_STUCK_HOURS``)."""
    return int(current_app.config.get("ECOMMERCE_STUCK_HOURS") or DEFAULT_STUCK_HOURS)


def _tag(value) -> str:
    tag = str(value or "Pending")
    return tag if tag in TAGS else "Pending"


def _parcel(shop: Shop, msg: dict, actor) -> Shipment:
    """The parcel of the callback under its row lock, created in its order's department."""
    carrier, number = str(msg.get("slug") or "")[:60], str(msg.get("tracking_number") or "")[:100]
    if not carrier or not number:
        raise ValueError("the tracking callback has no slug or tracking_number")
    query = Shipment.select().where(Shipment.carrier == carrier, Shipment.tracking_number == number)
    found = (query.for_update() if is_postgres() else query).first()
    if found is not None:
        return found
    order = Order.get_or_none(Order.shop == shop.id, Order.external_id == str(msg.get("order_id") or ""))
    if order is None:
        raise ValueError(f"no order {msg.get('order_id')!r} in this shop for parcel {number}")
    data = {
        "order": order.id,
        "carrier": carrier,
        "tracking_number": number,
        "department_id": order.department_id,
        "owner_id": order.owner_id,
    }
    return create_record(RESOURCE, Shipment, data, actor)


def apply_tracking(shop: Shop, payload: dict, actor) -> Shipment:
    """Apply one tracking callback of ``shop``; ``ValueError`` when it cannot be read."""
    msg = payload.get("msg") if isinstance(payload.get("msg"), dict) else payload
    with write_transaction():
        parcel = _parcel(shop, msg, actor)
        now = utcnow()
        for point in msg.get("checkpoints") or []:
            at = when(point.get("checkpoint_time"))
            if at is None:
                continue
            Checkpoint.insert(
                shipment=parcel.id,
                status=_tag(point.get("tag")),
                substatus=str(point.get("subtag") or "")[:60],
                checkpoint_time=at,
                message=str(point.get("message") or "")[:500],
                location=str(point.get("location") or "")[:200],
                created_at=now,
                updated_at=now,
            ).on_conflict_ignore().execute()
        latest = (
            Checkpoint.select()
            .where(Checkpoint.shipment == parcel.id)
            .order_by(Checkpoint.checkpoint_time.desc(), Checkpoint.id.desc())
            .first()
        )
        if latest is not None:
            state = {
                "status": latest.status,
                "substatus": latest.substatus,
                "last_checkpoint_at": latest.checkpoint_time,
            }
        else:
            state = {"status": _tag(msg.get("tag")), "substatus": str(msg.get("subtag") or "")[:60]}
        parcel = update_record(RESOURCE, parcel, state, actor)
        if parcel.status in ALARMING and parcel.alerted_at is None:
            alert(parcel, _("the carrier reports %(status)s", status=parcel.status), actor)
    return parcel


def apology(order: Order, parcel: Shipment) -> str:
    """The message the customer gets about a stalled parcel (in the app's language)."""
    return _(
        "We are sorry: your parcel %(number)s for order %(order)s is taking longer than it should. "
        "Our service team is on it and will contact you.",
        number=parcel.tracking_number,
        order=order.number or order.external_id,
    )


def alert(parcel: Shipment, reason: str, actor) -> Shipment:
    """Open the ticket, announce ``shipment.stuck`` with the apology, and mark the parcel alerted."""
    order = Order.get_by_id(parcel.order_id)
    tickets = collections()["tickets"]
    title = _(
        "Parcel %(number)s (%(carrier)s) of order %(order)s: %(reason)s",
        number=parcel.tracking_number,
        carrier=parcel.carrier,
        order=order.number or order.external_id,
        reason=reason,
    )
    ticket = create_record(
        "tickets",
        tickets.model,
        {
            "title": title[:300],
            "description": apology(order, parcel),
            "customer_id": order.customer_id,
            "priority": "high",
            "department_id": parcel.department_id,
        },
        actor,
        **tickets.write_options,
    )
    text = apology(order, parcel)
    delivery = messages.send(
        text, order.customer_id, "service", f"ecommerce-parcel-{parcel.id}-apology", actor
    )
    emit(
        "shipment.stuck",
        {
            "shipment_id": parcel.id,
            "order_id": order.id,
            "customer_id": order.customer_id,
            "carrier": parcel.carrier,
            "tracking_number": parcel.tracking_number,
            "status": parcel.status,
            "reason": reason,
            "ticket_id": ticket.id,
            "message": text,
            "delivery_id": delivery,
            "owner_id": parcel.owner_id,
            "department_id": parcel.department_id,
        },
        actor=actor,
        resource=RESOURCE,
        record_id=parcel.id,
    )
    changes = {"alerted_at": utcnow(), "alert_reason": reason[:300], "ticket_id": ticket.id}
    return update_record(RESOURCE, parcel, changes, actor)


def find_stuck(now: dt.datetime, hours: int) -> list[int]:
    """Parcels not delivered or expired, never alerted, without a checkpoint for ``hours``."""
    cutoff = now - dt.timedelta(hours=hours)
    last = pw.fn.COALESCE(Shipment.last_checkpoint_at, Shipment.created_at)
    query = Shipment.select(Shipment.id).where(
        Shipment.status.not_in(FINAL), Shipment.alerted_at.is_null(), last < cutoff
    )
    return [row.id for row in query.order_by(Shipment.id)]


def alert_stuck(actor, now: dt.datetime) -> dict:
    """Alert every stuck parcel (each in its own transaction, under its row lock)."""
    hours = stuck_hours()
    alerted = 0
    for parcel_id in find_stuck(now, hours):
        with write_transaction():
            query = Shipment.select().where(Shipment.id == parcel_id, Shipment.alerted_at.is_null())
            parcel = (query.for_update() if is_postgres() else query).first()
            if parcel is None:
                continue
            alert(parcel, _("no tracking progress for %(hours)s hours", hours=hours), actor)
            alerted += 1
    return {"alerted": alerted, "hours": hours}
