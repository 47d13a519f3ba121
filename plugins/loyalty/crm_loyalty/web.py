"""The web workbench's loyalty panel on the customer 360 page (``crm_nav`` kind ``customer_panel``)."""

from __future__ import annotations

import peewee as pw
from flask import Blueprint

from crm_core import permissions

from . import ledger, tiers
from .models import Member, Tier

# no routes: the blueprint only puts templates/loyalty/ on the app's template path
blp = Blueprint("loyalty_web", __name__, template_folder="templates")


def panel(customer, actor) -> dict | None:
    """What the panel shows for ``customer``: tier, points by bucket and progress; None when the
    customer is not a member or the member lies outside the actor's loyalty scope."""
    if actor is None or not permissions.can(actor, "loyalty.members", "read"):
        return None
    query = (
        Member.select(Member, Tier).join(Tier, pw.JOIN.LEFT_OUTER).where(Member.customer_id == customer.id)
    )
    member = permissions.scoped(query, actor, "loyalty.members", "read", model=Member).first()
    if member is None:
        return None
    return {
        "member": member,
        "tier": member.tier if member.tier_id else None,
        "points": ledger.balance(member),
        "progress": tiers.progress(member),
    }


NAV = [
    {
        "label": "Loyalty",
        "kind": "customer_panel",
        "endpoint": None,
        "template": "loyalty/customer_panel.html",
        "permission": "loyalty.members:read",
        "order": 50,
    }
]
