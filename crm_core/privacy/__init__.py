"""Privacy (GDPR / PIPL): export everything about a person, and erase it, across core and plugins.

- ``export_customer(customer, actor)`` -> a JSON-ready document: the customer, their contacts,
  deals, activities, tickets and tags, and under ``plugins`` whatever each plugin's
  ``crm_export_customer`` returns. Each part is what ``actor`` may read of its own resource
  (``permissions.view``: rows outside the scope and resources without a read grant left out,
  hidden fields removed). The read is audited.
- ``erase_customer(customer, actor)`` anonymises the customer in one transaction: personal fields
  cleared through the core write path (so the audit log and events record it), activities and
  company links deleted, ticket texts blanked, tags removed, and every plugin's
  ``crm_erase_customer`` called. Deals stay (business records a company must keep) but point at
  the anonymised person. Emits ``customer.erased``.
"""

from __future__ import annotations

from flask import current_app

from .. import permissions
from ..audit import record_event
from ..db import database, utcnow
from ..entities.models import Activity, Contact, Customer, CustomerTag, Deal, Tag, Ticket
from ..events import emit
from ..records import service

FORMAT = "crm-core.privacy-export/1"
ERASED_FIELDS = {"phone": None, "email": None, "gender": None, "birthday": None, "source_channel": None}


def _rows(actor, resource: str, query) -> list[dict]:
    """The rows of ``query`` that ``actor`` may read as ``resource``, masked (none without a grant)."""
    view = permissions.view(actor, resource)
    if not view.allowed:
        return []
    return view.dump([service.record_dict(row) for row in view.apply(query)])


def export_customer(customer: Customer, actor) -> dict:
    """Everything crm-core and its plugins store about ``customer``, as one JSON-ready document."""

    plugins = dict(current_app.extensions["crm"].plugins.calls("crm_export_customer", customer=customer))
    customers = permissions.view(actor, "customers")
    tags = Tag.select().join(CustomerTag).where(CustomerTag.customer == customer)
    document = {
        "format": FORMAT,
        "generated_at": service.to_json(utcnow()),
        "customer": customers.dump(service.record_dict(customer)),
        "contacts": _rows(actor, "contacts", Contact.select().where(Contact.customer == customer)),
        "deals": _rows(actor, "deals", Deal.select().where(Deal.customer == customer)),
        "activities": _rows(actor, "activities", Activity.select().where(Activity.customer == customer)),
        "tickets": _rows(actor, "tickets", Ticket.select().where(Ticket.customer == customer)),
        "tags": [t.name for t in tags] if customers.visible("tags") else [],
        "plugins": plugins,
    }
    record_event(actor, "read", "customers", customer.id, {"export": FORMAT}, record=customer)
    return document


def erase_customer(customer: Customer, actor) -> dict:
    """Anonymise ``customer`` everywhere; returns counts of what was erased. All or nothing."""

    with database.atomic():
        counts = {
            "activities": Activity.delete().where(Activity.customer == customer).execute(),
            "contacts": Contact.delete().where(Contact.customer == customer).execute(),
            "tags": CustomerTag.delete().where(CustomerTag.customer == customer).execute(),
            "tickets": Ticket.update(description="").where(Ticket.customer == customer).execute(),
        }
        cleared_custom = {key: None for key in (customer.custom or {})}
        fields = {**ERASED_FIELDS, "custom": cleared_custom, "name": f"Erased customer {customer.id}"}
        service.update("customers", customer, fields, actor)
        current_app.extensions["crm"].plugins.hook.crm_erase_customer(customer=customer)
        emit(
            "customer.erased",
            {
                "id": customer.id,
                "erased": counts,
                "owner_id": customer.owner_id,
                "department_id": customer.department_id,
            },
            actor=actor,
            resource="customers",
            record_id=customer.id,
        )
    return counts
