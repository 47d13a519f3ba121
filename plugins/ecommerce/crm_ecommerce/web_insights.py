"""The flash-sale and portrait screens under ``/ecommerce``: sales with their stock, live holds
and sales; tag rules with how many customers carry each tag, the spread of R, F and M scores and
the most valuable customers. Read through scoped queries, as the API; changes go through the API."""

from __future__ import annotations

import peewee as pw
from flask import current_app, render_template
from flask_babel import lazy_gettext as _l

from crm_core.plugin_api import Customer, can, login_required, scoped, utcnow, web_actor

from . import flash, portraits
from .flash_models import FlashSale
from .portrait_models import CustomerProfile, TagRule
from .web import blp

TOP = 20
FIELD_LABELS = {
    "order_count": _l("Orders"),
    "total_spent": _l("Total spent"),
    "avg_order_value": _l("Average order value"),
    "max_order_value": _l("Largest order"),
    "days_since_last_order": _l("Days since last order"),
    "rfm_r": _l("Recency score"),
    "rfm_f": _l("Frequency score"),
    "rfm_m": _l("Monetary score"),
    "channel": _l("Channel"),
    "loyalty_tier": _l("Loyalty tier"),
    "lifecycle_stage": _l("Lifecycle stage"),
}
OP_LABELS = {
    "has": _l("includes"),
    "in": _l("is one of"),
    "=": "=",
    "!=": "≠",
    ">=": "≥",
    "<=": "≤",
    ">": ">",
    "<": "<",
}


def condition_text(condition: dict) -> str:
    """One condition as a reader sees it: ``Average order value ≥ 500``."""
    value = condition.get("value")
    shown = ", ".join(value) if isinstance(value, list) else str(value)
    field = str(FIELD_LABELS.get(condition.get("field"), condition.get("field")))
    return f"{field} {OP_LABELS.get(condition.get('op'), condition.get('op'))} {shown}"


def sale_state(sale: FlashSale, now) -> str:
    """``inactive``, ``upcoming``, ``open`` or ``ended``."""
    if not sale.active:
        return "inactive"
    if now < sale.starts_at:
        return "upcoming"
    return "open" if now < sale.ends_at else "ended"


@blp.route("/flash-sales")
@login_required
def flash_sales():
    """Flash sales, newest first, with stock, live holds, sold and available units."""
    actor = web_actor()
    sales = list(
        scoped(FlashSale.select(), actor, flash.RESOURCE, "read").order_by(FlashSale.id.desc()).limit(100)
    )
    flash.attach_counts(sales)
    now = utcnow()
    default_hold = current_app.config.get("ECOMMERCE_HOLD_MINUTES") or flash.DEFAULT_HOLD_MINUTES
    return render_template(
        "ecommerce/flash_sales.html",
        sales=[(s, sale_state(s, now)) for s in sales],
        default_hold=default_hold,
    )


def _spread(actor) -> dict[str, list[int]]:
    """How many readable customers have each score 1..5 of R, F and M."""
    readable = scoped(Customer.select(Customer.id), actor, "customers", "read")
    spread = {}
    for name in ("r", "f", "m"):
        column = getattr(CustomerProfile, name)
        found = dict(
            CustomerProfile.select(column, pw.fn.COUNT(CustomerProfile.id))
            .where(CustomerProfile.customer_id.in_(readable), column > 0)
            .group_by(column)
            .tuples()
        )
        spread[name] = [found.get(score, 0) for score in range(5, 0, -1)]
    return spread


@blp.route("/portraits")
@login_required
def portrait_screen():
    """Tag rules, the spread of RFM scores and the most valuable customers."""
    actor = web_actor()
    rules = list(scoped(TagRule.select(), actor, portraits.RESOURCE, "read").order_by(TagRule.id))
    tagged = {}
    top = []
    spread = {"r": [0] * 5, "f": [0] * 5, "m": [0] * 5}
    if can(actor, "customers", "read"):
        readable = scoped(Customer.select(Customer.id), actor, "customers", "read")
        # one pass over the profiles that carry rule tags at all (few, next to all customers)
        carrying = CustomerProfile.select(CustomerProfile.auto_tags).where(
            CustomerProfile.customer_id.in_(readable), CustomerProfile.auto_tags != []
        )
        for (names,) in carrying.tuples():
            for tag in names or []:
                tagged[tag] = tagged.get(tag, 0) + 1
        spread = _spread(actor)
        profiles = list(
            CustomerProfile.select()
            .where(CustomerProfile.customer_id.in_(readable), CustomerProfile.orders > 0)
            .order_by(CustomerProfile.spent.desc(), CustomerProfile.customer_id)
            .limit(TOP)
        )
        names = dict(
            Customer.select(Customer.id, Customer.name)
            .where(Customer.id.in_([p.customer_id for p in profiles] or [0]))
            .tuples()
        )
        top = [(p, names.get(p.customer_id, "")) for p in profiles]
    return render_template(
        "ecommerce/portraits.html",
        rules=[(r, [condition_text(c) for c in r.conditions or []]) for r in rules],
        tagged=tagged,
        spread=spread,
        top=top,
    )
