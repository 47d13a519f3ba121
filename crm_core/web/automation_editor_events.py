"""The events an automation rule may be triggered by, as the rule editor offers them: the record
events of every resource the actor may read (``<noun>.created|updated|deleted``, core and
plugin resources and custom objects, named the way the write path names them:
``crm_core.changes.Change.event_type``), the documented business events, and, for those who may
read the event log, every type that has occurred.
"""

from __future__ import annotations

from flask import g
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import permissions
from ..changes import Change
from ..events.models import OutboxEvent
from .registry import RESOURCE_LABELS, object_types

#: Business events the core documents (docs/events.md) besides the record events.
BUSINESS_EVENTS = {
    "order.paid": _l("Order paid"),
    "order.refunded": _l("Order refunded"),
    "customer.erased": _l("Customer erased (privacy)"),
    "automation.failed": _l("Automation rule failed"),
    "webhook.failing": _l("Webhook subscription failing"),
    "job.failed": _l("Scheduled job failed"),
}
VERBS = {
    "created": _l("%(what)s · created"),
    "updated": _l("%(what)s · updated"),
    "deleted": _l("%(what)s · deleted"),
}


def _record_noun(resource: str) -> str:
    """The noun of ``resource``'s record events, as the write path names them."""
    return Change(action="create", resource=resource, record_id=None).event_type.rsplit(".", 1)[0]


def event_types(actor) -> list[tuple[str, list[tuple[str, str]]]]:
    """``[(group label, [(event type, label)])]`` of the events a rule may be triggered by
    (worked out once per request: the editor and the rule's page ask several times)."""
    cache = g.setdefault("_crm_event_types", {})
    key = (getattr(actor, "id", None), str(get_locale()))
    if key not in cache:
        cache[key] = _event_types(actor)
    return cache[key]


def _event_types(actor) -> list[tuple[str, list[tuple[str, str]]]]:

    known = permissions.resources()
    resources = [(r, _(str(RESOURCE_LABELS.get(r) or info.get("label") or r))) for r, info in known.items()]
    resources += object_types()
    records = []
    for resource, label in resources:
        if "*" in resource or resource in ("audit", "oauth_clients"):
            continue
        actions = (known.get(resource) or known.get("objects.*") or {}).get("actions", ())
        if "create" not in actions or not permissions.can(actor, resource, "read"):
            continue
        noun = _record_noun(resource)
        for verb, text in VERBS.items():
            records.append((f"{noun}.{verb}", str(text) % {"what": label}))
    listed = {t for t, _label in records}
    business = [(t, str(label)) for t, label in BUSINESS_EVENTS.items() if t not in listed]
    listed |= {t for t, _label in business}
    groups = [(_("Records"), records), (_("Business events"), business)]
    if permissions.can(actor, "events", "read"):
        seen = OutboxEvent.select(OutboxEvent.type).distinct().order_by(OutboxEvent.type).limit(300)
        occurred = [(row.type, row.type) for row in seen if row.type not in listed]
        if occurred:
            groups.append((_("Events that have occurred"), occurred))
    return groups


def event_label(event_type: str, groups) -> str:
    """The label of a known event type (the type itself for a pattern)."""
    for _group, items in groups:
        for value, label in items:
            if value == event_type:
                return label
    return event_type
