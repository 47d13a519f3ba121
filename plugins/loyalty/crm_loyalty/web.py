"""The loyalty programme's workbench screens (``crm_web_blueprints``, ``crm_nav``), built only on the
core's public web API: ``crm_core.plugin_api.login_required`` / ``web_actor`` and its permission functions
and templates extending ``crm/base.html``.

Pages under ``/loyalty``: members (list, member page with its ledger and the redeem / adjust /
reverse forms, enrolment with a customer picker), tiers, earning rules and programme settings
(:mod:`crm_loyalty.web_members`, :mod:`crm_loyalty.web_setup`), plus the panel on the customer 360
page (``loyalty/customer_panel.html``).
"""

from __future__ import annotations

import peewee as pw
from flask import Blueprint, redirect, url_for
from flask_babel import lazy_gettext as _l

from crm_core.plugin_api import can, login_required, require, scoped, utcnow, web_actor

from . import labels, ledger, tiers
from .models import Member, Tier

blp = Blueprint("loyalty_web", __name__, url_prefix="/loyalty", template_folder="templates")

#: the pages of the programme, in the order of its tab bar: (endpoint, label, permission)
SECTIONS = [
    ("loyalty_web.members", _l("Members"), ("loyalty.members", "read")),
    ("loyalty_web.tiers", _l("Tiers"), ("loyalty.tiers", "read")),
    ("loyalty_web.rules", _l("Earning rules"), ("loyalty.rules", "read")),
    ("loyalty_web.program", _l("Programme settings"), ("loyalty.program", "read")),
]


def sections(actor) -> list[dict]:
    """The programme's pages ``actor`` may open: ``[{"endpoint", "label"}]``."""
    return [
        {"endpoint": endpoint, "label": label}
        for endpoint, label, (resource, action) in SECTIONS
        if actor is not None and can(actor, resource, action)
    ]


@blp.app_context_processor
def _loyalty_context():
    # the tab bar and the code labels every loyalty page uses
    return {
        "loyalty_sections": lambda: sections(web_actor()),
        "loyalty_labels": labels,
        "loyalty_now": utcnow,
    }


@blp.route("/")
@login_required
def index():
    """The first programme page the user may open (the menu entry lands here)."""
    allowed = sections(web_actor())
    if not allowed:
        require(web_actor(), "loyalty.members", "read")  # answers 403
    return redirect(url_for(allowed[0]["endpoint"]))


def panel(customer, actor) -> dict | None:
    """What the customer 360 panel shows for ``customer``: tier, points by bucket, progress and
    which actions the actor may take; None when the customer is not a member or the member lies
    outside the actor's loyalty scope."""
    if actor is None or not can(actor, "loyalty.members", "read"):
        return None
    query = (
        Member.select(Member, Tier).join(Tier, pw.JOIN.LEFT_OUTER).where(Member.customer_id == customer.id)
    )
    member = scoped(query, actor, "loyalty.members", "read", model=Member).first()
    if member is None:
        return {
            "member": None,
            "can_enrol": can(actor, "loyalty.members", "create"),
        }
    progress = tiers.progress(member)
    if progress.get("next"):
        names = {t.code: t.name for t in tiers.ordered_tiers()}
        progress["next"]["tier_name"] = names.get(progress["next"]["tier"])
    return {
        "member": member,
        "tier": member.tier if member.tier_id else None,
        "points": ledger.balance(member),
        "progress": progress,
        "can_read_points": can(actor, "loyalty.points", "read", member),
        "can_redeem": can(actor, "loyalty.points", "redeem", member),
        "can_adjust": can(actor, "loyalty.points", "adjust", member),
    }


NAV = [
    {
        "label": _l("Loyalty"),
        "endpoint": "loyalty_web.index",
        "permission": [f"{resource}:{action}" for _e, _l_, (resource, action) in SECTIONS],
        "order": 60,
    },
    {
        "label": _l("Loyalty"),
        "kind": "customer_panel",
        "endpoint": None,
        "template": "loyalty/customer_panel.html",
        "permission": "loyalty.members:read",
        "order": 50,
        # the panel's data, computed only when the panel renders for a viewer allowed to see it
        "template_vars": lambda customer, actor: {"loyalty": panel(customer, actor)},
    },
]

# the routes live in their own modules, on this blueprint
from . import web_members, web_setup  # noqa: E402, F401
