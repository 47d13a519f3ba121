"""Customers: phone and e-mail unique, tags filtered and loaded in bulk, the image the audit log
and events see; ``WRITE_OPTIONS`` is how every writer (API, workbench, automations, imports)
saves one through ``records.service``."""

from __future__ import annotations

from .. import permissions
from ..auth import current_actor
from ..errors import APIError
from ..prepared import Prepared, slot
from ..records import service
from .models import (
    Customer,
    CustomerTag,
    Tag,
)
from .tags import set_tags

UNIQUE_FIELDS = ("phone", "email")


#: pages up to this many customers read their tags with a statement compiled once per size
PREPARED_PAGE = 200
_TAGS_OF_PAGE: dict[int, Prepared] = {}


def _tags_query(ids: list):
    """(customer id, tag name) of the customers ``ids`` (values, or ``slot``s), by tag name."""
    return (
        CustomerTag.select(CustomerTag.customer, Tag.name)
        .join(Tag)
        .where(CustomerTag.customer.in_(ids))
        .order_by(Tag.name)
        .tuples()
    )


def _tags_of(size: int) -> Prepared:
    prepared = _TAGS_OF_PAGE.get(size)
    if prepared is None:
        ids = [slot(f"id{i}") for i in range(size)]
        prepared = _TAGS_OF_PAGE.setdefault(size, Prepared(lambda: _tags_query(ids)))
    return prepared


def prefetch_tags(customers: list[Customer]) -> None:
    """Load the tag names of a page of customers in one query (none for those that know theirs:
    a customer just written)."""
    by_id = {c.id: c for c in customers if "_tags" not in c.__dict__}
    names: dict[int, list[str]] = {cid: [] for cid in by_id}
    if len(by_id) > PREPARED_PAGE:
        rows = _tags_query(list(by_id))
    elif by_id:
        rows = _tags_of(len(by_id)).rows(**{f"id{i}": cid for i, cid in enumerate(by_id)})
    else:
        rows = []
    for customer_id, name in rows:
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


def serialize(record: Customer) -> dict:
    """The audit/event image of a customer: its columns and its tags."""
    return {**service.record_dict(record), "tags": list(record.tags)}


def search_fields():
    return [Customer.name, Customer.phone, Customer.email]


#: ``records.service.create/update`` options for a customer: uniqueness, tags, the audit image.
WRITE_OPTIONS = {"before_save": check_unique, "after_save": set_tags, "serialize": serialize}
