"""The loyalty REST API under ``/api/v1/loyalty``.

Tiers and earning rules are plain collections (the core's CRUD factory, so they get the write
path, audit, ETags and the list grammar). Members are addressed by their CUSTOMER id. Every view
checks permissions through crm_core.plugin_api (can, require...): resources ``loyalty.members`` (row-scoped by the
member's owner and department), ``loyalty.points`` (``read``, ``redeem``, ``adjust``),
``loyalty.tiers``, ``loyalty.rules``, ``loyalty.program`` and ``loyalty.activities``.
"""

from __future__ import annotations

import datetime as dt
import json

import peewee as pw
from flask import request
from flask.views import MethodView
from flask_babel import gettext as _

from crm_core.plugin_api import (
    API_PREFIX,
    APIError,
    Blueprint,
    check_assignment,
    current_actor,
    database,
    json_response,
    list_args_schema,
    list_parameters,
    list_query,
    mask,
    page_params,
    pagination_header,
    record_written,
    register_crud,
    require,
    update_record,
)

from . import activities, customers, ledger, operations
from .models import Allocation, EarningRule, LedgerEntry, Lot, Member, Tier, TierChange
from .schemas import (
    TIER_BASIS,
    LoyaltyActivityResultSchema,
    LoyaltyActivitySchema,
    LoyaltyAdjustSchema,
    LoyaltyEntrySchema,
    LoyaltyLedgerResultSchema,
    LoyaltyMemberDetailSchema,
    LoyaltyMemberSchema,
    LoyaltyMemberUpdateSchema,
    LoyaltyProgramSchema,
    LoyaltyRedeemSchema,
    LoyaltyReverseSchema,
    LoyaltyRulePatchSchema,
    LoyaltyRuleSchema,
    LoyaltyTierChangeSchema,
    LoyaltyTierPatchSchema,
    LoyaltyTierSchema,
)

MEMBERS = "loyalty.members"
POINTS = "loyalty.points"

blp = Blueprint(
    "loyalty",
    __name__,
    url_prefix=f"{API_PREFIX}/loyalty",
    description="Loyalty programme: tiers, earning rules, members and their points ledger. " + TIER_BASIS,
)


def check_tier(record, data, before):
    """A tier's rank and code are unique; a rolling window needs its length (before a save)."""
    if Tier.select().where(Tier.rank == record.rank, Tier.id != (record.id or 0)).exists():
        raise APIError(
            409, _("Another tier has this rank."), errors={"rank": [_("Already used by another tier.")]}
        )
    if Tier.select().where(Tier.code == record.code, Tier.id != (record.id or 0)).exists():
        raise APIError(
            409, _("Another tier has this code."), errors={"code": [_("Already used by another tier.")]}
        )
    if record.window == "rolling" and not record.window_days:
        raise APIError(
            422, _("A rolling window needs window_days."), errors={"window_days": [_("Required.")]}
        )


def tier_in_use(record):
    """409 while members hold the tier (before a delete)."""
    if Member.select().where(Member.tier == record).exists():
        raise APIError(409, _("Members hold this tier; move them first."), errors={"id": [_("Tier in use.")]})


register_crud(
    blp,
    "loyalty.tiers",
    Tier,
    LoyaltyTierSchema,
    path="/tiers",
    name="tiers",
    update_schema=LoyaltyTierPatchSchema(partial=True),
    default_sort="rank",
    before_save=check_tier,
    before_delete=tier_in_use,
    description="loyalty tiers",
)
register_crud(
    blp,
    "loyalty.rules",
    EarningRule,
    LoyaltyRuleSchema,
    path="/rules",
    name="rules",
    update_schema=LoyaltyRulePatchSchema(partial=True),
    default_sort="id",
    description="earning rules",
)


@blp.route("/program")
class ProgramView(MethodView):
    """Programme settings."""

    @blp.response(200, LoyaltyProgramSchema)
    def get(self):
        """The programme's settings: return window, expiry, refund policy, downgrade rules."""
        require(current_actor(), "loyalty.program", "read")
        return ledger.program()

    @blp.arguments(LoyaltyProgramSchema)
    @blp.response(200, LoyaltyProgramSchema)
    def patch(self, data):
        """Change programme settings (only the fields sent)."""
        actor = current_actor()
        require(actor, "loyalty.program", "update")
        # the core's write path: permission and field checks, save, audit and outbox in one transaction
        return update_record("loyalty.program", ledger.program(), data, actor)


_member = operations.member_for
_member_image = operations.member_image
_entry_written = operations.entry_written
member_detail = operations.member_detail


def _by_tier(values):
    return Member.tier.in_(Tier.select(Tier.id).where(Tier.code.in_(values)))


@blp.route("/members")
class Members(MethodView):
    """The member collection."""

    @blp.response(200, LoyaltyMemberSchema(many=True))
    @blp.doc(parameters=list_parameters(list_args_schema(Member, MEMBERS, extra_filters=["tier"])))
    def get(self):
        """Members in your scope; filter by ``tier``, ``channel``, ``joined_at__gte``... (list grammar)."""
        actor = current_actor()
        page, page_size = page_params(request.args)
        base = Member.select(Member, Tier).join(Tier, pw.JOIN.LEFT_OUTER)
        rows, total = list_query(
            Member,
            MEMBERS,
            request.args,
            actor,
            query=base,
            extra_filters={"tier": _by_tier},
            search_fields=[Member.member_no, Member.channel],
        )
        data = mask(actor, MEMBERS, LoyaltyMemberSchema(many=True).dump(list(rows)))
        meta = pagination_header(total, page, page_size)
        return json_response(data, 200, {"X-Pagination": json.dumps(meta)})

    @blp.arguments(LoyaltyMemberSchema)
    @blp.response(201, LoyaltyMemberDetailSchema)
    @blp.alt_response(409, description="The customer is already a member")
    def post(self, data):
        """Enrol a customer (base tier, signup bonus). Owner and department default to yours."""
        actor = current_actor()
        member = operations.enrol(data, actor)
        return json_response(member_detail(member, actor), 201)


@blp.route("/members/<int:customer_id>")
class MemberItem(MethodView):
    """One member, by customer id."""

    @blp.response(200, LoyaltyMemberDetailSchema)
    def get(self, customer_id):
        """A member: points by bucket (balance = ledger sum) and progress towards the next tier and
        what keeps the current one."""
        actor = current_actor()
        return json_response(member_detail(_member(customer_id, actor), actor))

    @blp.arguments(LoyaltyMemberUpdateSchema)
    @blp.response(200, LoyaltyMemberDetailSchema)
    def patch(self, data, customer_id):
        """Change a member; sending ``tier`` moves them by hand (recorded with ``reason``)."""
        actor = current_actor()
        member = operations.update_member(customer_id, data, actor)
        return json_response(member_detail(Member.get_by_id(member.id), actor))


def _entries_with_lots(entries: list[LedgerEntry], fresh: bool = False) -> list[dict]:
    """Dump entries with the lots each one touched, in one extra query.

    ``fresh``: the entries are debits written in this request, so the lots they consumed are on
    ``entry.consumed`` (see ``ledger._consume``) and need no query.
    """
    by_entry: dict[int, list] = {}
    if fresh:
        by_entry = {e.id: list(e.__dict__.get("consumed", [])) for e in entries}
    elif entries:
        rows = (
            Allocation.select(Allocation.entry, Allocation.points, Lot.id, Lot.expires_at)
            .join(Lot)
            .where(Allocation.entry.in_([e.id for e in entries]))
            .order_by(Allocation.id)
        )
        for row in rows:
            by_entry.setdefault(row.entry_id, []).append(
                {"lot_id": row.lot.id, "points": row.points, "expires_at": row.lot.expires_at}
            )
    credits = [e.id for e in entries if e.points > 0]
    if credits:
        # a crediting entry shows the lot it created (availability and expiry)
        for lot in Lot.select().where(Lot.entry.in_(credits)):
            by_entry.setdefault(lot.entry_id, []).append(
                {
                    "lot_id": lot.id,
                    "points": lot.points,
                    "remaining": lot.remaining,
                    "available_at": lot.available_at,
                    "expires_at": lot.expires_at,
                }
            )
    out = []
    for entry in entries:
        entry.lots = [
            {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in x.items()}
            for x in by_entry.get(entry.id, [])
        ]
        out.append(LoyaltyEntrySchema().dump(entry))
    return out


@blp.route("/members/<int:customer_id>/ledger")
class Ledger(MethodView):
    """A member's ledger."""

    @blp.response(200, LoyaltyEntrySchema(many=True))
    @blp.doc(parameters=[{"name": "kind", "in": "query", "schema": {"type": "string"}}])
    def get(self, customer_id):
        """The member's ledger, newest first, with the lots each entry used (paged)."""
        actor = current_actor()
        member = _member(customer_id, actor, POINTS, "read")
        page, page_size = page_params(request.args)
        query = LedgerEntry.select().where(LedgerEntry.member == member)
        if request.args.get("kind"):
            query = query.where(LedgerEntry.kind.in_(request.args.getlist("kind")))
        total = query.count()
        entries = list(query.order_by(LedgerEntry.id.desc()).paginate(page, page_size))
        meta = pagination_header(total, page, page_size)
        return json_response(_entries_with_lots(entries), 200, {"X-Pagination": json.dumps(meta)})


@blp.route("/members/<int:customer_id>/tier-changes")
class TierChanges(MethodView):
    """A member's tier history."""

    @blp.response(200, LoyaltyTierChangeSchema(many=True))
    def get(self, customer_id):
        """Every tier change of the member with its reason, newest first."""
        actor = current_actor()
        member = _member(customer_id, actor)
        From, To = Tier.alias(), Tier.alias()
        rows = (
            TierChange.select(TierChange, From, To)
            .join_from(TierChange, From, pw.JOIN.LEFT_OUTER, on=(TierChange.from_tier == From.id))
            .join_from(TierChange, To, pw.JOIN.LEFT_OUTER, on=(TierChange.to_tier == To.id))
            .where(TierChange.member == member)
            .order_by(TierChange.id.desc())
        )
        return list(rows)


def _reference(data) -> str:
    reference = data.get("reference") or request.headers.get("Idempotency-Key")
    if not reference:
        raise APIError(
            422,
            _("A reference is required."),
            errors={"reference": [_("Send a reference (or an Idempotency-Key header).")]},
        )
    return reference.strip()[:150]


def _ledger_result(member: Member, entry: LedgerEntry, created: bool, fresh: bool = False):
    """The answer to a ledger write. ``fresh``: ``entry`` is a new redemption, which carries its
    lots and the balance after it (``ledger.redeem``), so neither is read again."""
    entry_data = _entries_with_lots([entry], fresh=fresh)[0]
    points = entry.points_after if fresh else ledger.balance(member)
    body = {"entry": entry_data, "created": created, "points": points}
    return json_response(body, 201 if created else 200)


@blp.route("/members/<int:customer_id>/redeem")
class Redeem(MethodView):
    """Spend points."""

    @blp.arguments(LoyaltyRedeemSchema)
    @blp.response(201, LoyaltyLedgerResultSchema)
    @blp.alt_response(
        200, schema=LoyaltyLedgerResultSchema, description="A repeat of a redemption with this reference"
    )
    @blp.alt_response(409, description="Not enough active points")
    def post(self, data, customer_id):
        """Spend active points, soonest-expiring lots first. Safe under concurrent calls; a repeat
        with the same reference returns the first result and spends nothing more."""
        actor = current_actor()
        member, entry, created = operations.redeem(customer_id, data, _reference(data), actor)
        return _ledger_result(member, entry, created, fresh=created)


@blp.route("/members/<int:customer_id>/adjust")
class Adjust(MethodView):
    """Manual credit or deduction."""

    @blp.arguments(LoyaltyAdjustSchema)
    @blp.response(201, LoyaltyLedgerResultSchema)
    @blp.alt_response(200, schema=LoyaltyLedgerResultSchema, description="A repeat with this reference")
    @blp.alt_response(409, description="A deduction larger than the active points")
    def post(self, data, customer_id):
        """Credit (positive) or deduct (negative) points by hand; needs ``loyalty.points:adjust``.
        A deduction never takes the balance below zero."""
        actor = current_actor()
        member, entry, created = operations.adjust(customer_id, data, _reference(data), actor)
        return _ledger_result(member, entry, created)


@blp.route("/members/<int:customer_id>/reverse")
class Reverse(MethodView):
    """Undo an earning or a redemption."""

    @blp.arguments(LoyaltyReverseSchema)
    @blp.response(201, LoyaltyLedgerResultSchema)
    @blp.alt_response(200, schema=LoyaltyLedgerResultSchema, description="A repeat with this reference")
    def post(self, data, customer_id):
        """Reverse an earning (all or ``points`` of it) or a redemption (restoring the exact lots it
        used, with their original expiry). Needs ``loyalty.points:adjust``."""
        actor = current_actor()
        member, entry, created = operations.reverse(customer_id, data, _reference(data), actor)
        return _ledger_result(member, entry, created)


@blp.route("/activities")
class Activities(MethodView):
    """Qualifying activities."""

    @blp.arguments(LoyaltyActivitySchema)
    @blp.response(201, LoyaltyActivityResultSchema)
    @blp.alt_response(200, schema=LoyaltyActivityResultSchema, description="A repeat of this activity")
    def post(self, data):
        """Feed a qualifying activity when no commerce plugin emits ``order.paid``: a ``purchase``
        (earns points, may upgrade the tier at once), a ``refund`` (of ``order_reference``), or a
        bonus event (signup, birthday, review, live_interaction, referral). Idempotent on
        (customer, kind, reference). Enrols the customer first when the programme auto-enrols."""
        actor = current_actor()
        require(actor, "loyalty.activities", "create")
        member = Member.get_or_none(Member.customer_id == data["customer_id"])
        if member is None:
            if not ledger.program().auto_enrol or data["kind"] == "refund":
                raise APIError(404, f"Customer {data['customer_id']} is not a loyalty member.")
            require(actor, MEMBERS, "create")
            check_assignment(actor, MEMBERS, "create", actor.id, actor.department_id)
            customers.require_readable(data["customer_id"], actor)
            with database.atomic():
                member, created = activities.enrol(
                    data["customer_id"],
                    channel=data["channel"],
                    owner_id=actor.id,
                    department_id=actor.department_id,
                )
                if created:
                    record_written("create", MEMBERS, member, actor, None, _member_image(member))
        member = _member(data["customer_id"], actor)
        with ledger.write_transaction():  # apply's member lock joins it: entries and audit commit together
            result = activities.apply(member, data, actor_id=actor.id)
            if result["created"]:
                for entry in result["entries"]:
                    _entry_written(entry, member, actor)
        body = {
            "created": result["created"],
            "kind": data["kind"],
            "reference": data["reference"],
            "entries": _entries_with_lots(result["entries"]),
            "member": member_detail(Member.get_by_id(member.id), actor),
        }
        return json_response(body, 201 if result["created"] else 200)
