"""Customer portraits: profiles rebuilt from orders, and tag rules that keep tags true.

A rule is a tag and a list of conditions that must all hold (:data:`FIELDS` says what a
condition may look at). What a condition sees comes from this plugin's orders, the RFM scores
(:mod:`crm_ecommerce.rfm`), the core's customer columns, and what other plugins *announced*:
the loyalty tier from ``tier.changed``, channels from ``touchpoint.recorded`` and
``attribution.assigned`` (besides the orders' own channel and the customer's
``source_channel``). No other plugin is imported.

When re-evaluated:

- an order event (``order.created/paid/refunded/cancelled/...``), ``tier.changed`` or a
  touchpoint marks the customer's profile dirty (``on_event``, idempotent); the job
  ``ecommerce:portraits`` (every minute) rebuilds the dirty ones;
- the job ``ecommerce:portraits_all`` (daily) rebuilds every profile: recency moves with the
  calendar, and a rule created or changed reaches everyone.

Tags are the core's customer tags, written through the core's write path for customers (the
customers collection's own write options), so the audit log and ``customer.updated`` see
them and segments filter on them (``{"tag": "复购"}``). A rule removes only the tags the rules
added (``CustomerProfile.auto_tags``); a tag a person set by hand stays.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm_core.plugin_api import (
    Customer,
    collections,
    get_record,
    update_record,
    utcnow,
    write_transaction,
)

from . import rfm
from .models import Order
from .portrait_models import CustomerProfile, TagRule

RESOURCE = "ecommerce.tag_rules"
NUMBER, TEXT, SET = "number", "text", "set"
#: what a condition may test, and of which kind it is
FIELDS = {
    "order_count": NUMBER,
    "total_spent": NUMBER,
    "avg_order_value": NUMBER,
    "max_order_value": NUMBER,
    "days_since_last_order": NUMBER,
    "rfm_r": NUMBER,
    "rfm_f": NUMBER,
    "rfm_m": NUMBER,
    "channel": SET,
    "loyalty_tier": TEXT,
    "lifecycle_stage": TEXT,
}
OPS = {
    NUMBER: (">=", ">", "<=", "<", "=", "!="),
    TEXT: ("=", "!=", "in"),
    SET: ("has", "in"),
}
TRIGGERS = ("tier.changed", "touchpoint.recorded", "attribution.assigned")
BATCH = 500


def holds(condition: dict, facts: dict) -> bool:
    """Whether one condition holds for a customer's ``facts`` (a missing fact never holds)."""
    field, op, value = condition["field"], condition["op"], condition.get("value")
    fact = facts.get(field)
    if fact is None:
        return False
    kind = FIELDS[field]
    if kind == SET:
        wanted = set(value) if isinstance(value, list) else {value}
        return bool(set(fact) & wanted)
    if kind == TEXT:
        if op == "in":
            return fact in (value or [])
        return (fact == value) == (op == "=")
    fact, value = Decimal(str(fact)), Decimal(str(value))
    return {
        ">=": fact >= value,
        ">": fact > value,
        "<=": fact <= value,
        "<": fact < value,
        "=": fact == value,
        "!=": fact != value,
    }[op]


def matches(conditions: list[dict], facts: dict) -> bool:
    """All conditions hold (a rule without conditions matches nobody: it would tag everyone)."""
    return bool(conditions) and all(holds(c, facts) for c in conditions)


def facts_of(profile: CustomerProfile, customer: Customer, order_channels: set[str]) -> dict:
    """What the rules see of one customer."""
    has_orders = profile.orders > 0 or profile.last_order_at is not None
    channels = {*(profile.channels or []), *order_channels}
    if customer.source_channel:
        channels.add(customer.source_channel)
    return {
        "order_count": profile.orders,
        "total_spent": profile.spent,
        "avg_order_value": profile.avg_order if profile.orders else None,
        "max_order_value": profile.max_order if profile.orders else None,
        "days_since_last_order": profile.recency_days if has_orders else None,
        "rfm_r": profile.r,
        "rfm_f": profile.f,
        "rfm_m": profile.m,
        "channel": sorted(channels),
        "loyalty_tier": profile.loyalty_tier,
        "lifecycle_stage": customer.lifecycle_stage,
    }


def _profile(customer_id: int) -> CustomerProfile:
    now = utcnow()
    CustomerProfile.insert(
        customer_id=customer_id, created_at=now, updated_at=now
    ).on_conflict_ignore().execute()
    return CustomerProfile.get(CustomerProfile.customer_id == customer_id)


def on_event(event) -> bool:
    """Mark the profile of the event's customer dirty (and keep what the event tells: a loyalty
    tier, a channel); True when the event concerned portraits."""
    if not (event.type.startswith("order.") or event.type in TRIGGERS):
        return False
    data = event.data or {}
    try:
        customer_id = int(data.get("customer_id"))
    except (TypeError, ValueError):
        return False
    with write_transaction():
        profile = _profile(customer_id)
        values = {"dirty": True, "updated_at": utcnow()}
        if event.type == "tier.changed":
            values["loyalty_tier"] = data.get("to_tier")
        channel = str(data.get("channel") or "")[:100]
        if event.type in ("touchpoint.recorded", "attribution.assigned") and channel:
            values["channels"] = sorted({*(profile.channels or []), channel})
        CustomerProfile.update(**values).where(CustomerProfile.id == profile.id).execute()
    return True


def _set_tags(customer: Customer, profile: CustomerProfile, wanted: set[str], actor) -> tuple[set, set, set]:
    """Add the rules' tags the customer lacks, remove those the rules added and no longer want;
    ``(added, removed, owned)``, owned being the rules' tags on the customer now (a tag a
    person had set before a rule wanted it stays theirs)."""
    current = set(customer.tags)
    previous = set(profile.auto_tags or [])
    add = wanted - current
    remove = (previous - wanted) & current
    if add or remove:
        customers = collections()["customers"]
        tags = sorted((current | add) - remove)
        update_record("customers", customer, {"tags": tags}, actor, **customers.write_options)
    return add, remove, (previous & wanted) | add


def refresh(customer_ids: list[int], actor, now: dt.datetime | None = None) -> dict:
    """Rebuild the profiles of these customers and apply the active rules; counts."""
    now = now or utcnow()
    rules = list(TagRule.select().where(TagRule.active == True))  # noqa: E712 (SQL)
    counts = {"profiles": 0, "tags_added": 0, "tags_removed": 0}
    for start in range(0, len(customer_ids), BATCH):
        ids = customer_ids[start : start + BATCH]
        found = rfm.figures(ids, now)
        channels: dict[int, set[str]] = {}
        for cid, channel in (
            Order.select(Order.customer_id, Order.channel)
            .where(Order.customer_id.in_(ids), Order.channel != "")
            .distinct()
            .tuples()
        ):
            channels.setdefault(cid, set()).add(channel)
        for cid in ids:
            with write_transaction():
                customer = get_record(Customer, cid, actor, "customers", "update", lock=True)
                profile = _profile(cid)
                for key, value in found[cid].items():
                    setattr(profile, key, value)
                facts = facts_of(profile, customer, channels.get(cid, set()))
                wanted = {rule.tag for rule in rules if matches(rule.conditions or [], facts)}
                added, removed, owned = _set_tags(customer, profile, wanted, actor)
                profile.auto_tags = sorted(owned)
                profile.dirty, profile.computed_at, profile.updated_at = False, now, utcnow()
                profile.save()
            counts["profiles"] += 1
            counts["tags_added"] += len(added)
            counts["tags_removed"] += len(removed)
    return counts


def _existing(ids: list[int]) -> list[int]:
    return [c for (c,) in Customer.select(Customer.id).where(Customer.id.in_(ids)).tuples()]


def refresh_dirty(actor, now: dt.datetime) -> dict:
    """The job ``ecommerce:portraits``: rebuild the profiles events marked."""
    ids = [
        p.customer_id
        for p in CustomerProfile.select(CustomerProfile.customer_id).where(CustomerProfile.dirty == True)  # noqa: E712
    ]
    gone = set(ids) - set(_existing(ids))
    if gone:  # an erased or deleted customer: nothing to portray
        CustomerProfile.delete().where(CustomerProfile.customer_id.in_(list(gone))).execute()
    return refresh(sorted(set(ids) - gone), actor, now)


def refresh_all(actor, now: dt.datetime) -> dict:
    """The job ``ecommerce:portraits_all``: every customer with an order or a profile."""
    with_orders = {
        c
        for (c,) in Order.select(Order.customer_id)
        .where(Order.customer_id.is_null(False))
        .distinct()
        .tuples()
    }
    profiled = {c for (c,) in CustomerProfile.select(CustomerProfile.customer_id).tuples()}
    ids = sorted(with_orders | profiled)
    existing = set(_existing(ids))
    CustomerProfile.delete().where(CustomerProfile.customer_id.in_(sorted(profiled - existing))).execute()
    return refresh(sorted(existing), actor, now)
