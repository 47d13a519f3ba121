"""The customer 360 page: profile, tags, deals, tickets, the activity timeline and plugin panels.

Every part is read with the viewer's permissions: deals and tickets through ``list_query`` (row
scope) and ``Crud.dump`` (masked), the timeline from ``crm_core.entities``, which masks each entry
by the viewer's view of its own resource (timelines must not leak hidden fields), and plugin
panels only when the viewer holds the panel's permission.
"""

from __future__ import annotations

import logging

from werkzeug.datastructures import MultiDict

from .. import permissions
from ..conversations import customer_timeline
from ..errors import APIError
from ..records import listing
from .nav import render_panels
from .registry import cruds, fields_for, get_resource

log = logging.getLogger(__name__)


def related(resource: str, customer_id: int, actor, limit: int = 20) -> dict | None:
    """The newest ``limit`` records of ``resource`` of the customer, or None when not readable."""
    if resource not in cruds() or not permissions.can(actor, resource, "read"):
        return None
    res = get_resource(resource)
    args = MultiDict({"customer_id": str(customer_id), "page_size": str(limit)})
    try:
        rows, total = listing.list_query(res.model, resource, args, actor, **res.list_options())
    except APIError:
        return None
    skip = ("customer_id", "id", "created_at", "updated_at", "owner_id", "department_id")
    fields = [f for f in fields_for(res, actor) if f.name not in skip][:6]
    return {"res": res, "records": res.crud.dump(list(rows), actor), "total": total, "fields": fields}


def masked_timeline(customer, actor, limit: int = 50) -> list[dict]:
    """The customer's timeline as ``actor`` may see it: ``entities.timeline.timeline`` reads each
    source within the viewer's ``permissions.view`` of its resource and masks every entry by
    that resource's field rules (deals' rules for deals, activities' for activities); the
    conversations the viewer may read are added (``conversations.customer_timeline``)."""
    return customer_timeline(customer, actor, limit)


def customer_context(customer, actor, data: dict) -> dict:
    """Template variables of the 360 page beyond the profile itself (``data``: the masked dump)."""
    return {
        "deals": related("deals", customer.id, actor),
        "tickets": related("tickets", customer.id, actor),
        "activities": related("activities", customer.id, actor),
        "timeline": masked_timeline(customer, actor),
        "panels": render_panels("customer_panel", customer=customer, data=data, actor=actor),
        "customer": customer,
        "actor": actor,
        "can_create": {r: permissions.can(actor, r, "create") for r in ("deals", "tickets", "activities")},
    }
