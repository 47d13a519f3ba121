"""Customers and tags: CRUD, uniqueness of phone and e-mail, tag links, and the customer timeline."""

from __future__ import annotations

import peewee as pw
from flask import request
from flask.views import MethodView

from ..auth import current_actor
from ..db import utcnow
from ..entities.models import (
    Activity,
    Customer,
    CustomerTag,
    Deal,
    DealStageChange,
    Stage,
    Tag,
    Ticket,
    TicketTransition,
)
from ..entities.schemas import CustomerSchema, TagSchema, TimelineItemSchema
from ..errors import APIError
from ..records import listing, service
from . import API_PREFIX, Blueprint
from .crud import json_response, register_crud

blp = Blueprint(
    "customers", __name__, url_prefix=API_PREFIX, description="Customers: people the business serves"
)
tags_blp = Blueprint("tags", __name__, url_prefix=API_PREFIX, description="Tags on customers")

UNIQUE_FIELDS = ("phone", "email")


def prefetch_tags(customers: list[Customer]) -> None:
    """Load the tag names of a page of customers in one query."""
    by_id = {c.id: c for c in customers}
    names: dict[int, list[str]] = {cid: [] for cid in by_id}
    if by_id:
        query = (
            CustomerTag.select(CustomerTag.customer, Tag.name)
            .join(Tag)
            .where(CustomerTag.customer.in_(list(by_id)))
            .order_by(Tag.name)
            .tuples()
        )
        for customer_id, name in query:
            names[customer_id].append(name)
    for cid, customer in by_id.items():
        customer._tags = names[cid]


def tag_filter(values: list[str]):
    """``tag=vip&tag=kol``: customers carrying every named tag (``tag=vip,kol``: any of them)."""
    condition = None
    for value in values:
        names = [v.strip() for v in value.split(",") if v.strip()]
        if not names:
            raise APIError(
                400, "Invalid query parameter 'tag': give a tag name.", errors={"tag": ["Give a tag name."]}
            )
        sub = CustomerTag.select(CustomerTag.customer).join(Tag).where(Tag.name.in_(names))
        term = Customer.id.in_(sub)
        condition = term if condition is None else (condition & term)
    return condition


EXTRA_FILTERS = {"tag": tag_filter}


def conflict(resource: str, model, existing_id, field: str, what: str) -> APIError:
    """The 409 for a value ``field`` already used by record ``existing_id`` of ``resource``: it
    names the record (message and ``existing_id``) only when the caller may read it
    (``permissions.view``); otherwise it only says the value is taken, revealing no id."""
    from .. import permissions
    from ..auth import current_actor

    actor = current_actor(required=False)
    if actor is not None and permissions.view(actor, resource).contains_id(model, existing_id):
        return APIError(
            409,
            f"A {what} with this {field} already exists (id {existing_id}).",
            errors={field: [f"Already used by {what} {existing_id}."]},
            existing_id=existing_id,
        )
    return APIError(
        409, f"This {field} is already taken.", errors={field: [f"Already used by another {what}."]}
    )


def check_unique(record: Customer, data=None, before=None) -> None:
    """409 when the phone or e-mail is already used, naming the existing customer only when the
    caller may read it (``conflict``)."""
    for name in UNIQUE_FIELDS:
        value = getattr(record, name)
        if value is None or (before is not None and before.get(name) == value):
            continue  # unchanged by this update: it was unique when it was written
        query = Customer.select(Customer.id).where(getattr(Customer, name) == value)
        if record.id is not None:
            query = query.where(Customer.id != record.id)
        existing = query.scalar()
        if existing is not None:
            raise conflict("customers", Customer, existing, name, "customer")


def tag_ids(names: list[str]) -> list[int]:
    """Ids of the tags named, creating the missing ones (tags are created by use)."""
    names = sorted({n.strip() for n in names if n and n.strip()})
    if not names:
        return []
    existing = dict(Tag.select(Tag.name, Tag.id).where(Tag.name.in_(names)).tuples())
    missing = [n for n in names if n not in existing]
    if missing:
        now = utcnow()
        Tag.insert_many(
            [{"name": n, "created_at": now, "updated_at": now} for n in missing]
        ).on_conflict_ignore().execute()
        existing = dict(Tag.select(Tag.name, Tag.id).where(Tag.name.in_(names)).tuples())
    return [existing[n] for n in names]


def set_tags(record: Customer, data: dict, before=None) -> None:
    """Replace the customer's tags with ``data["tags"]`` when given."""
    if "tags" not in data:
        return
    wanted = set(tag_ids(data["tags"] or []))
    current = {
        t for (t,) in CustomerTag.select(CustomerTag.tag).where(CustomerTag.customer == record.id).tuples()
    }
    if current - wanted:
        CustomerTag.delete().where(
            CustomerTag.customer == record.id, CustomerTag.tag.in_(list(current - wanted))
        ).execute()
    if wanted - current:
        CustomerTag.insert_many(
            [{"customer": record.id, "tag": t} for t in sorted(wanted - current)]
        ).execute()
    record.__dict__.pop("_tags", None)


def serialize(record: Customer) -> dict:
    """The audit/event image of a customer: its columns and its tags."""
    return {**service.record_dict(record), "tags": list(record.tags)}


def search_fields():
    return [Customer.name, Customer.phone, Customer.email]


crud = register_crud(
    blp,
    "customers",
    Customer,
    CustomerSchema,
    search_fields=search_fields,
    extra_filters=EXTRA_FILTERS,
    prefetch=prefetch_tags,
    before_save=check_unique,
    after_save=set_tags,
    serialize=serialize,
)


def _delete_tag_links(tag: Tag) -> None:
    CustomerTag.delete().where(CustomerTag.tag == tag.id).execute()


def _tag_unique(record, data=None, before=None):
    query = Tag.select(Tag.id).where(Tag.name == record.name)
    if record.id is not None:
        query = query.where(Tag.id != record.id)
    existing = query.scalar()
    if existing is not None:
        raise APIError(
            409,
            f"Tag {record.name!r} exists (id {existing}).",
            errors={"name": ["Already exists."]},
            existing_id=existing,
        )


tags_crud = register_crud(
    tags_blp,
    "tags",
    Tag,
    TagSchema,
    default_sort="name",
    before_save=_tag_unique,
    before_delete=_delete_tag_links,
)


# --- timeline -----------------------------------------------------------------------------------


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
    from .. import permissions

    view = permissions.view(actor, resource, "read")
    if not view.allowed:
        return None, view
    return view.apply(query, model), view


def _masked(view, item: dict) -> dict:
    """A timeline entry as ``view`` lets it be seen: ``data`` keys whose field is hidden left out,
    the title blank when its field is hidden."""
    if not view.visible(TITLE_FIELDS.get(view.resource, "title")):
        item["title"] = ""
    if view.resource == "activities" and not view.visible("kind"):
        item["type"] = "activity"
    item["data"] = {
        key: value
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


@blp.route("/customers/<int:record_id>/timeline")
class CustomerTimeline(MethodView):
    @blp.response(200, TimelineItemSchema(many=True))
    @blp.doc(
        parameters=[
            {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
            {"in": "query", "name": "before", "schema": {"type": "string", "format": "date-time"}},
        ]
    )
    def get(self, record_id):
        """Everything that happened to a customer, newest first: activities, deals and their stage
        changes, tickets and their transitions. Page back with ``before=<at of the last item>``."""
        actor = current_actor()
        customer = crud.get(record_id, actor)
        try:
            limit = int(request.args.get("limit", 50))
            if not 1 <= limit <= listing.MAX_PAGE_SIZE:
                raise ValueError
        except ValueError:
            raise APIError(
                400, "Invalid query parameter 'limit'.", errors={"limit": ["Must be 1 to 200."]}
            ) from None
        before = None
        if request.args.get("before"):
            try:
                before = listing.coerce_column(Activity.created_at, request.args["before"])
            except ValueError:
                raise APIError(
                    400, "Invalid query parameter 'before'.", errors={"before": ["Not a date-time."]}
                ) from None
        return json_response(TimelineItemSchema(many=True).dump(timeline(customer, actor, limit, before)))
