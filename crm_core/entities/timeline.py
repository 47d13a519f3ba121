"""The customer timeline: activities, deal stage changes and ticket transitions of one customer,
newest first, each source within the viewer's read scope and with hidden fields blank."""

from __future__ import annotations

import peewee as pw

from .. import permissions
from ..permissions.fields import mask_value
from ..records import service
from .models import (
    Activity,
    Customer,
    Deal,
    DealStageChange,
    Stage,
    Ticket,
    TicketTransition,
)

#: The field each timeline source takes its entry's title from (blank when hidden from the viewer).
TITLE_FIELDS = {"activities": "subject", "deals": "title", "tickets": "title"}
#: The record field a timeline ``data`` key shows, where the names differ.
DATA_FIELDS = {
    "from_stage_id": "stage_id",
    "to_stage_id": "stage_id",
    "stage": "stage_id",
    "from_status": "status",
    "to_status": "status",
}


def _source(actor, resource, query, model):
    """``query`` within ``actor``'s view of ``resource`` and that view; ``(None, view)`` when the
    actor may not read ``resource`` at all."""
    view = permissions.view(actor, resource, "read")
    if not view.allowed:
        return None, view
    return view.apply(query, model), view


def _masked(view, item: dict) -> dict:
    """A timeline entry as ``view`` lets it be seen: ``data`` keys whose field is hidden left out,
    the title blank when its field is hidden, masked ones shown partly."""
    title_field = TITLE_FIELDS.get(view.resource, "title")
    if not view.visible(title_field):
        item["title"] = ""
    elif title_field in view.masked:
        item["title"] = mask_value(title_field, item["title"])
    if view.resource == "activities" and not view.visible("kind"):
        item["type"] = "activity"
    item["data"] = {
        key: mask_value(key, value) if DATA_FIELDS.get(key, key) in view.masked else value
        for key, value in item["data"].items()
        if view.visible(key) and view.visible(DATA_FIELDS.get(key, key))
    }
    return item


def timeline(customer: Customer, actor, limit: int, before=None) -> list[dict]:
    """Activities, deals, deal stage changes, tickets and ticket transitions of ``customer``,
    newest first. Each source is read within the actor's view of its own resource (row scope in
    SQL, one query per source; a resource the actor cannot read adds nothing) and each entry is
    masked by that resource's field rules (``permissions.view``)."""
    items: list[dict] = []

    def window(query, column):
        if before is not None:
            query = query.where(column < before)
        return query.order_by(column.desc()).limit(limit)

    def add(view, item):
        items.append(_masked(view, item))

    q, view = _source(
        actor, "activities", Activity.select().where(Activity.customer == customer.id), Activity
    )
    for a in window(q, Activity.created_at) if q is not None else []:
        add(
            view,
            {
                "type": f"activity.{a.kind}",
                "at": a.created_at,
                "object": "activities",
                "object_id": a.id,
                "title": a.subject,
                "data": {"done": a.done, "due_at": service.to_json(a.due_at), "body": a.body[:500]},
            },
        )
    q, view = _source(actor, "deals", Deal.select().where(Deal.customer == customer.id), Deal)
    for d in window(q, Deal.created_at) if q is not None else []:
        add(
            view,
            {
                "type": "deal.created",
                "at": d.created_at,
                "object": "deals",
                "object_id": d.id,
                "title": d.title,
                "data": {"amount": str(d.amount), "currency": d.currency, "status": d.status},
            },
        )
    ToStage = Stage.alias()
    q = (
        DealStageChange.select(DealStageChange, Deal.title, ToStage.name.alias("stage_name"))
        .join(Deal)
        .switch(DealStageChange)
        .join(ToStage, pw.JOIN.LEFT_OUTER, on=(DealStageChange.to_stage == ToStage.id))
    )
    q, view = _source(actor, "deals", q.where(Deal.customer == customer.id), Deal)
    for c in window(q, DealStageChange.changed_at).objects() if q is not None else []:
        add(
            view,
            {
                "type": "deal.stage_changed",
                "at": c.changed_at,
                "object": "deals",
                "object_id": c.deal_id,
                "title": c.title,
                "data": {
                    "from_stage_id": c.from_stage_id,
                    "to_stage_id": c.to_stage_id,
                    "stage": c.stage_name,
                },
            },
        )
    q, view = _source(actor, "tickets", Ticket.select().where(Ticket.customer == customer.id), Ticket)
    for t in window(q, Ticket.created_at) if q is not None else []:
        add(
            view,
            {
                "type": "ticket.created",
                "at": t.created_at,
                "object": "tickets",
                "object_id": t.id,
                "title": t.title,
                "data": {"priority": t.priority, "status": t.status},
            },
        )
    q = TicketTransition.select(TicketTransition, Ticket.title).join(Ticket)
    q, view = _source(
        actor,
        "tickets",
        q.where(Ticket.customer == customer.id, TicketTransition.from_status.is_null(False)),
        Ticket,
    )
    for tr in window(q, TicketTransition.changed_at).objects() if q is not None else []:
        add(
            view,
            {
                "type": "ticket.status_changed",
                "at": tr.changed_at,
                "object": "tickets",
                "object_id": tr.ticket_id,
                "title": tr.title,
                "data": {"from_status": tr.from_status, "to_status": tr.to_status},
            },
        )
    items.sort(key=lambda item: (item["at"], item["object_id"]), reverse=True)
    return items[:limit]
