"""Members in the workbench: the list (tier and points, search, paging, the actor's row scope),
a member's page (points by bucket, progress to the next tier, ledger with its lots, tier history,
redeem / adjust / reverse forms) and enrolment with a search-as-you-type customer picker.

Writes go through :mod:`crm_loyalty.operations`, the code behind ``/api/v1/loyalty``, so a form
follows the API's rules and shows its refusals (not enough points, an entry already reversed...)
on the field they concern, in the user's language.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import peewee as pw
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from crm_core.plugin_api import APIError, can, login_required, require, scoped, utcnow, view, web_actor

from . import customers, ledger, operations, tiers
from .models import Allocation, LedgerEntry, Lot, Member, Tier, TierChange
from .schemas import (
    LoyaltyAdjustSchema,
    LoyaltyMemberSchema,
    LoyaltyMemberUpdateSchema,
    LoyaltyRedeemSchema,
    LoyaltyReverseSchema,
)
from .web import blp
from .webforms import FormErrors, load, refusal, values

MEMBERS, POINTS = operations.MEMBERS, operations.POINTS
PAGE_SIZE = 25
LEDGER_PAGE_SIZE = 20
PICKER_LIMIT = 10


def customer_names(actor, ids) -> dict[int, str]:
    """``{customer id: name}`` of those of ``ids`` the actor may read (and whose name is not hidden
    from them): a member's customer outside the actor's customer scope shows no name."""
    ids = [i for i in set(ids) if i is not None]
    seen = view(actor, "customers", "read")
    if not ids or not seen.allowed or "name" in seen.hidden:
        return {}
    Customer = customers.customer_model()
    query = seen.apply(Customer.select(Customer.id, Customer.name).where(Customer.id.in_(ids)), Customer)
    return dict(query.tuples())


def points_of(member_ids) -> dict[int, dict]:
    """``{member id: {"balance", "active"}}`` for a page of members, in two grouped queries."""
    ids = list(member_ids)
    out = {i: {"balance": 0, "active": 0} for i in ids}
    if not ids:
        return out
    sums = (
        LedgerEntry.select(LedgerEntry.member, pw.fn.SUM(LedgerEntry.points))
        .where(LedgerEntry.member.in_(ids))
        .group_by(LedgerEntry.member)
        .tuples()
    )
    for member_id, total in sums:
        out[member_id]["balance"] = int(total or 0)
    now = utcnow()
    active = (
        Lot.select(Lot.member, pw.fn.SUM(Lot.remaining))
        .where(
            Lot.member.in_(ids),
            Lot.remaining > 0,
            Lot.available_at <= now,
            Lot.expires_at.is_null() | (Lot.expires_at > now),
        )
        .group_by(Lot.member)
        .tuples()
    )
    for member_id, total in active:
        out[member_id]["active"] = int(total or 0)
    return out


def _int_arg(name: str, default: int = 1) -> int:
    raw = request.args.get(name, "")
    try:
        return max(1, min(int(raw), 10**6)) if raw else default
    except ValueError:
        return default


@blp.route("/members")
@login_required
def members():
    """Members in the actor's scope with tier and points; search by member number, channel or
    (readable) customer name; filter by tier."""
    actor = web_actor()
    require(actor, MEMBERS, "read")
    q = request.args.get("q", "").strip()[:100]
    tier_code = request.args.get("tier", "").strip()
    page = _int_arg("page")
    query = Member.select(Member, Tier).join(Tier, pw.JOIN.LEFT_OUTER)
    query = scoped(query, actor, MEMBERS, "read", model=Member)
    if q:
        match = Member.member_no.contains(q) | Member.channel.contains(q)
        seen = view(actor, "customers", "read")
        if seen.allowed and "name" not in seen.hidden:
            # only names the actor may read can match: a search never reveals another customer
            Customer = customers.customer_model()
            named = seen.apply(Customer.select(Customer.id).where(Customer.name.contains(q)), Customer)
            match |= Member.customer_id.in_(named)
        query = query.where(match)
    if tier_code:
        query = query.where(Tier.code == tier_code)
    total = query.count()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows = list(query.order_by(Member.joined_at.desc(), Member.id.desc()).paginate(page, PAGE_SIZE))
    args = {"q": q, "tier": tier_code}

    def qs(**changes):
        merged = {**args, **changes}
        return urlencode({k: v for k, v in merged.items() if v not in (None, "")})

    return render_template(
        "loyalty/members.html",
        members=rows,
        names=customer_names(actor, [m.customer_id for m in rows]),
        points=points_of(m.id for m in rows),
        tiers=tiers.ordered_tiers(),
        args=args,
        qs=qs,
        page=page,
        pages=pages,
        total=total,
        can_enrol=can(actor, MEMBERS, "create"),
    )


def _ledger_page(member: Member, page: int) -> tuple[list[dict], int]:
    """One page of the member's ledger, newest first: each entry with the lots it created (with
    availability, expiry and what is left) or used."""
    query = LedgerEntry.select().where(LedgerEntry.member == member)
    total = query.count()
    entries = list(
        query.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc()).paginate(page, LEDGER_PAGE_SIZE)
    )
    ids = [e.id for e in entries]
    created = {lot.entry_id: lot for lot in Lot.select().where(Lot.entry.in_(ids))} if ids else {}
    used: dict[int, list] = {}
    if ids:
        rows = (
            Allocation.select(Allocation.entry, Allocation.points, Lot.id, Lot.expires_at)
            .join(Lot)
            .where(Allocation.entry.in_(ids))
            .order_by(Allocation.id)
        )
        for row in rows:
            used.setdefault(row.entry_id, []).append(row)
    reversed_ids = set()
    if ids:
        reversed_ids = {
            r
            for (r,) in LedgerEntry.select(LedgerEntry.reverses)
            .where(LedgerEntry.reverses.in_(ids), LedgerEntry.kind == "reverse")
            .tuples()
        }
    out = [
        {
            "entry": e,
            "lot": created.get(e.id),
            "used": used.get(e.id, []),
            "reversible": (e.kind == "redeem" and e.id not in reversed_ids)
            or (e.kind in ("earn", "adjust") and e.points > 0),
        }
        for e in entries
    ]
    return out, total


def _member_page(customer_id: int, errors=None, form=None, message=None, status=200, open_form=None):
    actor = web_actor()
    member = operations.member_for(customer_id, actor)
    can_points = can(actor, POINTS, "read", member)
    page = _int_arg("page")
    entries, total = _ledger_page(member, page) if can_points else ([], 0)
    From, To = Tier.alias(), Tier.alias()
    changes = list(
        TierChange.select(TierChange, From, To)
        .join_from(TierChange, From, pw.JOIN.LEFT_OUTER, on=(TierChange.from_tier == From.id))
        .join_from(TierChange, To, pw.JOIN.LEFT_OUTER, on=(TierChange.to_tier == To.id))
        .where(TierChange.member == member)
        .order_by(TierChange.id.desc())
        .limit(20)
    )
    progress = tiers.progress(member)
    nxt = progress.get("next")
    percent = None
    if nxt and float(nxt["threshold"]) > 0:
        percent = min(100, int(100 * float(nxt["value"]) / float(nxt["threshold"])))
    tier_names = {t.code: t.name for t in tiers.ordered_tiers()}
    return (
        render_template(
            "loyalty/member.html",
            member=member,
            customer_name=customer_names(actor, [member.customer_id]).get(member.customer_id),
            points=ledger.balance(member) if can_points else None,
            progress=progress,
            percent=percent,
            tier_names=tier_names,
            entries=entries,
            changes=changes,
            page=page,
            pages=max(1, -(-total // LEDGER_PAGE_SIZE)),
            total=total,
            can_points=can_points,
            can_redeem=can(actor, POINTS, "redeem", member),
            can_adjust=can(actor, POINTS, "adjust", member),
            can_update=can(actor, MEMBERS, "update", member),
            tiers=tiers.ordered_tiers(),
            errors=errors or {},
            form=form or {},
            message=message,
            open_form=open_form,
            reference=uuid.uuid4().hex,
        ),
        status,
    )


@blp.route("/members/<int:customer_id>")
@login_required
def member(customer_id):
    """A member: points by bucket, progress to the next tier, ledger, tier history and actions."""
    return _member_page(customer_id)


def _ledger_write(customer_id: int, form_name: str, schema, operation, fields: dict, done, form=None):
    """Run one ledger form (redeem, adjust, reverse): the schema loads the values, the shared
    operation writes; a refusal re-renders the member page with the messages on their fields and
    what was typed (status 422 or the operation's 409)."""
    actor = web_actor()
    operations.member_for(customer_id, actor)  # 404 outside the scope, before any message
    raw = values({**fields, "reference": "text"}, form)
    try:
        data = load(schema, raw)
        if not data.get("reference"):
            raise FormErrors({"reference": [_("The form has expired; please submit it again.")]})
        _member, entry, created = operation(customer_id, data, data["reference"], actor)
    except FormErrors as exc:
        return _member_page(customer_id, exc.errors, request.form, exc.message, 422, form_name)
    except APIError as exc:
        if exc.code not in (404, 409, 422):
            raise
        failed = refusal(exc)
        return _member_page(customer_id, failed.errors, request.form, failed.message, exc.code, form_name)
    if created:
        flash(done(abs(entry.points)), "success")
    else:
        flash(_("This form was already submitted; nothing changed."), "info")
    return redirect(url_for("loyalty_web.member", customer_id=customer_id))


@blp.route("/members/<int:customer_id>/redeem", methods=["POST"])
@login_required
def redeem(customer_id):
    """Redeem points (the API's ``POST .../redeem``)."""
    return _ledger_write(
        customer_id,
        "redeem",
        LoyaltyRedeemSchema(),
        operations.redeem,
        {"points": "text", "reason": "keep"},
        lambda points: _("%(points)s points redeemed.", points=points),
    )


@blp.route("/members/<int:customer_id>/adjust", methods=["POST"])
@login_required
def adjust(customer_id):
    """Credit or deduct points by hand, with a reason (the API's ``POST .../adjust``)."""
    form = request.form.copy()
    expiry = form.get("expires_at", "").strip()
    if len(expiry) == 10:  # a date input: the points last to the end of that day (UTC)
        form["expires_at"] = f"{expiry}T23:59:59Z"
    return _ledger_write(
        customer_id,
        "adjust",
        LoyaltyAdjustSchema(),
        operations.adjust,
        {"points": "text", "reason": "text", "expires_at": "optional"},
        lambda points: _("Points adjusted by %(points)s.", points=points),
        form,
    )


@blp.route("/members/<int:customer_id>/reverse", methods=["POST"])
@login_required
def reverse(customer_id):
    """Reverse an earning or a redemption (the API's ``POST .../reverse``)."""
    return _ledger_write(
        customer_id,
        "reverse",
        LoyaltyReverseSchema(),
        operations.reverse,
        {"entry_id": "text", "points": "text", "reason": "keep"},
        lambda points: _("%(points)s points reversed.", points=points),
    )


@blp.route("/members/<int:customer_id>/edit", methods=["POST"])
@login_required
def edit_member(customer_id):
    """Change a member's channel and birthday, or move them to another tier by hand with a reason
    (the API's ``PATCH /members/<customer_id>``)."""
    actor = web_actor()
    operations.member_for(customer_id, actor)
    raw = values({"channel": "keep", "birthday": "optional", "tier": "text", "reason": "keep"})
    try:
        data = load(LoyaltyMemberUpdateSchema(), raw)
        operations.update_member(customer_id, data, actor)
    except FormErrors as exc:
        return _member_page(customer_id, exc.errors, request.form, exc.message, 422, "edit")
    except APIError as exc:
        if exc.code not in (409, 422):
            raise
        failed = refusal(exc)
        return _member_page(customer_id, failed.errors, request.form, failed.message, exc.code, "edit")
    flash(_("Member saved."), "success")
    return redirect(url_for("loyalty_web.member", customer_id=customer_id))


# --- enrolment -----------------------------------------------------------------------------------


def readable_customers(actor, q: str, limit: int = PICKER_LIMIT) -> list:
    """Customers matching ``q`` (name, phone or e-mail, as far as the actor may see those fields)
    within the actor's ``customers:read`` scope, for the picker."""
    seen = view(actor, "customers", "read")
    if not seen.allowed or "name" in seen.hidden:
        return []
    Customer = customers.customer_model()
    query = Customer.select(Customer.id, Customer.name)
    if q:
        match = Customer.name.contains(q)
        digits = "".join(ch for ch in q if ch.isdigit())
        # only what the read decision lets a search touch: a hidden or masked phone is not
        searchable = {f.name for f in seen.searchable([Customer.phone, Customer.email], Customer)}
        if "phone" in searchable and len(digits) >= 3:
            match |= Customer.phone.contains(digits)
        if "email" in searchable and "@" in q:
            match |= Customer.email.contains(q.lower())
        query = query.where(match)
    query = seen.apply(query, Customer)
    return list(query.order_by(Customer.name, Customer.id).limit(limit))


@blp.route("/customers/pick")
@login_required
def pick_customer():
    """The picker's suggestions (an htmx fragment): customers the actor may read, marked when
    already members."""
    actor = web_actor()
    require(actor, MEMBERS, "create")
    q = (request.args.get("q") or request.args.get("customer_q") or "").strip()[:100]
    found = readable_customers(actor, q) if q else []
    enrolled = set()
    if found:
        enrolled = {
            c
            for (c,) in Member.select(Member.customer_id)
            .where(Member.customer_id.in_([c.id for c in found]))
            .tuples()
        }
    return render_template("loyalty/customer_picker.html", found=found, enrolled=enrolled, q=q)


@blp.route("/members/new", methods=["GET", "POST"])
@login_required
def enrol():
    """Enrol a customer chosen with the picker (the API's ``POST /members``)."""
    actor = web_actor()
    require(actor, MEMBERS, "create")
    errors, message, status = {}, None, 200
    chosen = None
    raw_id = (request.values.get("customer_id") or "").strip()
    if raw_id.isdigit():
        found = customer_names(actor, [int(raw_id)])
        if found:
            chosen = {"id": int(raw_id), "name": found[int(raw_id)]}
    if request.method == "POST":
        raw = values({"customer_id": "text", "channel": "keep", "birthday": "optional"})
        try:
            if "customer_id" not in raw:
                raise FormErrors({"customer_id": [_("Choose a customer.")]})
            data = load(LoyaltyMemberSchema(only=("customer_id", "channel", "birthday")), raw)
            created = operations.enrol(data, actor)
        except FormErrors as exc:
            errors, message, status = exc.errors, exc.message, 422
        except APIError as exc:
            if exc.code not in (409, 422):
                raise
            failed = refusal(exc)
            errors, message, status = failed.errors, failed.message, exc.code
            if exc.code == 422 and "customer_id" in errors:
                # the core's words name the resource code: say it the user's way
                errors["customer_id"] = [_("Choose a customer you can see.")]
        else:
            flash(
                _(
                    "%(name)s is now a member (%(number)s).",
                    name=chosen["name"] if chosen else "",
                    number=created.member_no,
                ),
                "success",
            )
            return redirect(url_for("loyalty_web.member", customer_id=created.customer_id))
    return (
        render_template(
            "loyalty/enrol.html",
            chosen=chosen,
            errors=errors,
            message=message,
            form=request.form,
        ),
        status,
    )
