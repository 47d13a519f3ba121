"""The programme's set-up in the workbench: tiers and earning rules (list, create, edit, delete)
and the programme settings, as forms.

Values load through the API's schemas and save through the core's write path
(``crm_core.plugin_api.create_record`` and friends) with the API's own checks (a rank or code already used, a tier
members still hold), so a form and the API refuse the same things with the same messages.
"""

from __future__ import annotations

from decimal import Decimal

import peewee as pw
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_core.plugin_api import (
    APIError,
    can,
    create_record,
    database,
    delete_record,
    get_record,
    login_required,
    require,
    update_record,
    web_actor,
)

from . import api, labels, ledger, tiers
from .models import EarningRule, Member, Tier
from .schemas import LoyaltyProgramSchema, LoyaltyRuleSchema, LoyaltyTierSchema
from .web import blp
from .webforms import TRUE_TEXT, FormErrors, decimal_or_error, load, refusal, values

TIER_FIELDS = {
    "code": "text",
    "name": "text",
    "rank": "text",
    "metric": "text",
    "window": "text",
    "window_days": "optional",
    "threshold": "text",
    "multiplier": "text",
    "description": "keep",
}
RULE_FIELDS = {
    "name": "text",
    "kind": "text",
    "rate": "text",
    "rounding": "text",
    "points": "text",
    "min_amount": "text",
    "apply_multiplier": "check",
    "cap_per_day": "optional",
    "cap_per_month": "optional",
    "active": "check",
}
PROGRAM_FIELDS = {
    "name": "text",
    "pending_days": "text",
    "expiry_mode": "text",
    "expiry_days": "text",
    "reminder_days": "text",
    "refund_policy": "text",
    "retention_days": "text",
    "grace_days": "text",
    "downgrade_steps": "text",
    "auto_enrol": "check",
}


def field(name, label, widget="text", required=False, choices=None, help=None) -> dict:
    """One input of a form, in the shape ``crm/macros.html``'s ``input`` macro reads."""
    return {
        "name": name,
        "label": label,
        "widget": widget,
        "required": required,
        "writable": True,
        "choices": list(choices.items()) if choices else [],
        "help": help,
    }


TIER_FORM = [
    field("name", _l("Name"), required=True),
    field(
        "code", _l("Code"), required=True, help=_l("Lower-case letters, digits, - and _ (used by the API).")
    ),
    field("rank", _l("Rank"), "number", True, help=_l("Higher is better; the lowest rank is the base tier.")),
    field(
        "metric",
        _l("Based on"),
        "select",
        True,
        labels.METRICS,
        _l("Value earned in the window, never the points balance."),
    ),
    field("window", _l("Window"), "select", True, labels.WINDOWS),
    field("window_days", _l("Window length (days)"), "number", help=_l("For a rolling window.")),
    field("threshold", _l("Threshold"), "decimal"),
    field("multiplier", _l("Points multiplier"), "decimal"),
    field("discount_percent", _l("Discount (%)"), "decimal"),
    field("free_shipping", _l("Free shipping"), "checkbox"),
    field("perks", _l("Perks"), help=_l("Separated by commas.")),
    field("description", _l("Description"), "textarea"),
]
RULE_FORM = [
    field("name", _l("Name"), required=True),
    field("kind", _l("Kind"), "select", True, labels.RULE_KINDS),
    field("rate", _l("Points per currency unit"), "decimal", help=_l("For purchases.")),
    field("rounding", _l("Rounding"), "select", True, labels.ROUNDING),
    field("min_amount", _l("Minimum amount"), "decimal", help=_l("For purchases.")),
    field("points", _l("Bonus points"), "number", help=_l("For bonus kinds.")),
    field("apply_multiplier", _l("Apply the tier's multiplier"), "checkbox"),
    field("cap_per_day", _l("Cap per day"), "number"),
    field("cap_per_month", _l("Cap per month"), "number"),
    field("active", _l("Active"), "checkbox"),
]
PROGRAM_FORM = [
    field("name", _l("Programme name"), required=True),
    field(
        "pending_days",
        _l("Return window (days)"),
        "number",
        help=_l("Purchase points stay pending this long."),
    ),
    field("expiry_mode", _l("Points expire"), "select", True, labels.EXPIRY_MODES),
    field("expiry_days", _l("Days until points expire"), "number"),
    field("reminder_days", _l("Remind this many days before expiry"), "number"),
    field(
        "refund_policy", _l("When refunded points were already spent"), "select", True, labels.REFUND_POLICIES
    ),
    field("retention_days", _l("Keep a tier at least (days)"), "number"),
    field("grace_days", _l("Grace period to requalify (days)"), "number"),
    field(
        "downgrade_steps", _l("Levels dropped per evaluation"), "number", help=_l("0 = as many as needed.")
    ),
    field("auto_enrol", _l("Enrol customers automatically on their first paid order"), "checkbox"),
]


def initial(fields: list[dict], record) -> dict:
    """The form's values for a saved record (or the schema's defaults for a new one)."""
    out = {}
    for f in fields:
        name = f["name"]
        if record is not None and hasattr(record, name):
            value = getattr(record, name)
            if hasattr(value, "normalize"):
                value = format(value.normalize(), "f")
            out[name] = value
    if record is None:
        out.update(apply_multiplier=True, active=True, metric="spend", window="rolling", rounding="down")
    if isinstance(record, Tier):
        benefits = record.benefits or {}
        if benefits.get("discount_rate") not in (None, ""):
            out["discount_percent"] = format((Decimal(str(benefits["discount_rate"])) * 100).normalize(), "f")
        out["free_shipping"] = bool(benefits.get("free_shipping"))
        perks = benefits.get("perks") or []
        out["perks"] = ", ".join(perks) if isinstance(perks, list) else str(perks)
    return out


def _save(resource: str, model, data: dict, actor, record=None, before_save=None):
    """Create or update through the core's write path; ``FormErrors`` on a refusal."""
    try:
        with database.atomic():
            if record is None:
                return create_record(resource, model, data, actor, before_save=before_save)
            return update_record(resource, record, data, actor, before_save=before_save)
    except APIError as exc:
        if exc.code in (403, 409, 422):
            raise refusal(exc) from None
        raise


def _get(model, resource: str, record_id: int, action: str):
    return get_record(model, record_id, web_actor(), resource, action)


# --- tiers ---------------------------------------------------------------------------------------


@blp.route("/tiers", endpoint="tiers")
@login_required
def tiers_list():
    """The tiers, lowest rank (the base tier) first, with their member counts."""
    actor = web_actor()
    require(actor, "loyalty.tiers", "read")
    rows = tiers.ordered_tiers()
    counts = dict(Member.select(Member.tier, pw.fn.COUNT(Member.id)).group_by(Member.tier).tuples())
    return render_template(
        "loyalty/tiers.html",
        tiers=rows,
        counts=counts,
        can_create=can(actor, "loyalty.tiers", "create"),
        can_update=can(actor, "loyalty.tiers", "update"),
        can_delete=can(actor, "loyalty.tiers", "delete"),
    )


def _benefits(form, current: dict) -> dict:
    """The tier's benefits from the form's discount, free-shipping and perks inputs, keeping any
    other key an API client stored."""
    out = dict(current or {})
    percent = decimal_or_error(form.get("discount_percent", ""), "discount_percent", Decimal(0), Decimal(100))
    if percent is None:
        out.pop("discount_rate", None)
    else:
        out["discount_rate"] = str((percent / 100).normalize())
    out["free_shipping"] = (form.get("free_shipping") or "").strip().lower() in TRUE_TEXT
    perks = [p.strip() for p in form.get("perks", "").replace("，", ",").split(",") if p.strip()]
    if perks:
        out["perks"] = perks
    else:
        out.pop("perks", None)
    return out


def _tier_form(record: Tier | None):
    actor = web_actor()
    errors, message, status = {}, None, 200
    if request.method == "POST":
        try:
            data = values(TIER_FIELDS)
            benefits = _benefits(request.form, record.benefits if record else {})
            data = load(LoyaltyTierSchema(), data)
            data["benefits"] = benefits
            saved = _save("loyalty.tiers", Tier, data, actor, record, before_save=api.check_tier)
        except FormErrors as exc:
            errors, message, status = exc.errors, exc.message, 422
        else:
            flash(_("Tier %(name)s saved.", name=saved.name), "success")
            return redirect(url_for("loyalty_web.tiers"))
    return (
        render_template(
            "loyalty/form.html",
            title=_("Edit tier %(name)s", name=record.name) if record else _("New tier"),
            fields=TIER_FORM,
            values=request.form if request.method == "POST" else initial(TIER_FORM, record),
            errors=errors,
            message=message,
            back=url_for("loyalty_web.tiers"),
            form_id="tier-form",
        ),
        status,
    )


@blp.route("/tiers/new", methods=["GET", "POST"])
@login_required
def tier_new():
    """Create a tier."""
    require(web_actor(), "loyalty.tiers", "create")
    return _tier_form(None)


@blp.route("/tiers/<int:tier_id>/edit", methods=["GET", "POST"])
@login_required
def tier_edit(tier_id):
    """Change a tier."""
    return _tier_form(_get(Tier, "loyalty.tiers", tier_id, "update"))


@blp.route("/tiers/<int:tier_id>/delete", methods=["POST"])
@login_required
def tier_delete(tier_id):
    """Delete a tier no member holds (else a message says to move them first)."""
    actor = web_actor()
    record = _get(Tier, "loyalty.tiers", tier_id, "delete")
    try:
        with database.atomic():
            delete_record("loyalty.tiers", record, actor, before_delete=api.tier_in_use)
    except APIError as exc:
        if exc.code != 409:
            raise
        flash(
            _("%(name)s cannot be deleted: members hold this tier; move them first.", name=record.name),
            "error",
        )
    else:
        flash(_("Tier %(name)s deleted.", name=record.name), "success")
    return redirect(url_for("loyalty_web.tiers"))


# --- earning rules -------------------------------------------------------------------------------


@blp.route("/rules")
@login_required
def rules():
    """The earning rules."""
    actor = web_actor()
    require(actor, "loyalty.rules", "read")
    rows = list(EarningRule.select().order_by(EarningRule.kind, EarningRule.id))
    return render_template(
        "loyalty/rules.html",
        rules=rows,
        can_create=can(actor, "loyalty.rules", "create"),
        can_update=can(actor, "loyalty.rules", "update"),
        can_delete=can(actor, "loyalty.rules", "delete"),
    )


def _rule_form(record: EarningRule | None):
    actor = web_actor()
    errors, message, status = {}, None, 200
    if request.method == "POST":
        try:
            data = load(LoyaltyRuleSchema(), values(RULE_FIELDS))
            saved = _save("loyalty.rules", EarningRule, data, actor, record)
        except FormErrors as exc:
            errors, message, status = exc.errors, exc.message, 422
        else:
            flash(_("Rule %(name)s saved.", name=saved.name), "success")
            return redirect(url_for("loyalty_web.rules"))
    return (
        render_template(
            "loyalty/form.html",
            title=_("Edit rule %(name)s", name=record.name) if record else _("New earning rule"),
            fields=RULE_FORM,
            values=request.form if request.method == "POST" else initial(RULE_FORM, record),
            errors=errors,
            message=message,
            back=url_for("loyalty_web.rules"),
            form_id="rule-form",
        ),
        status,
    )


@blp.route("/rules/new", methods=["GET", "POST"])
@login_required
def rule_new():
    """Create an earning rule."""
    require(web_actor(), "loyalty.rules", "create")
    return _rule_form(None)


@blp.route("/rules/<int:rule_id>/edit", methods=["GET", "POST"])
@login_required
def rule_edit(rule_id):
    """Change an earning rule."""
    return _rule_form(_get(EarningRule, "loyalty.rules", rule_id, "update"))


@blp.route("/rules/<int:rule_id>/delete", methods=["POST"])
@login_required
def rule_delete(rule_id):
    """Delete an earning rule (entries it earned keep their points)."""
    actor = web_actor()
    record = _get(EarningRule, "loyalty.rules", rule_id, "delete")
    with database.atomic():
        delete_record("loyalty.rules", record, actor)
    flash(_("Rule %(name)s deleted.", name=record.name), "success")
    return redirect(url_for("loyalty_web.rules"))


# --- programme -----------------------------------------------------------------------------------


def _program_values(current) -> dict:
    """The settings form's values; the name the first migration seeded (English ``Loyalty``)
    is offered in the reader's language."""
    out = initial(PROGRAM_FORM, current)
    if out.get("name") == "Loyalty":
        out["name"] = _("Loyalty programme")
    return out


@blp.route("/program", methods=["GET", "POST"])
@login_required
def program():
    """The programme's settings: return window, expiry, refund policy, downgrade rules."""
    actor = web_actor()
    require(actor, "loyalty.program", "read")
    current = ledger.program()
    errors, message, status = {}, None, 200
    if request.method == "POST":
        require(actor, "loyalty.program", "update")
        try:
            data = load(LoyaltyProgramSchema(), values(PROGRAM_FIELDS))
            _save("loyalty.program", None, data, actor, current)
        except FormErrors as exc:
            errors, message, status = exc.errors, exc.message, 422
        else:
            flash(_("Programme settings saved."), "success")
            return redirect(url_for("loyalty_web.program"))
    return (
        render_template(
            "loyalty/program.html",
            fields=PROGRAM_FORM,
            values=request.form if request.method == "POST" else _program_values(current),
            errors=errors,
            message=message,
            can_update=can(actor, "loyalty.program", "update"),
        ),
        status,
    )
