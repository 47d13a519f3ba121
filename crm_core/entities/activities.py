"""Activities (notes, calls, meetings, tasks) attached to any object: the target must exist and be
readable, and the customer an activity belongs to is derived from it."""

from __future__ import annotations

from ..custom.extensible import entity_model
from ..db import utcnow
from ..errors import APIError
from .models import Activity, Company, Contact, Customer, Deal, Ticket
from .refs import require_ref

TARGETS = {"customers": Customer, "companies": Company, "contacts": Contact, "deals": Deal, "tickets": Ticket}


def target_model(related_type: str):
    """The model behind an activity's ``related_type``: a core collection, or any entity the
    metadata engine knows (plugin records, custom object types ``objects.<type>``); else 422."""
    model = TARGETS.get(related_type) or entity_model(related_type)
    if model is None:
        raise APIError(
            422,
            f"Activities cannot be attached to {related_type!r}.",
            errors={"related_type": [f"Unknown object type; e.g. {', '.join(TARGETS)} or objects.<type>."]},
        )
    return model


def attach(record: Activity, data: dict, before) -> None:
    """Check the target object and derive the customer the activity belongs to."""
    if before is None and record.done:
        record.done_at = utcnow()
    elif before is not None and "done" in data and bool(before.get("done")) != bool(record.done):
        record.done_at = utcnow() if record.done else None
    if before is not None and not ({"related_type", "related_id", "customer_id"} & set(data)):
        return
    if (record.related_type is None) != (record.related_id is None):
        raise APIError(
            422,
            "Give related_type and related_id together.",
            errors={
                "related_id" if record.related_id is None else "related_type": ["Required with the other."]
            },
        )
    customer_id = data.get("customer_id", record.customer_id)
    if record.related_type is not None:
        target = require_ref(
            target_model(record.related_type), record.related_type, record.related_id, "related_id"
        )
        if record.related_type == "customers":
            customer_id = target.id
        elif getattr(target, "customer_id", None) is not None:
            customer_id = target.customer_id
    if customer_id is not None and "customer_id" in data:
        require_ref(Customer, "customers", customer_id, "customer_id")
    record.customer = customer_id


#: ``records.service`` options for an activity: its target checked, its customer derived.
WRITE_OPTIONS = {"before_save": attach}
