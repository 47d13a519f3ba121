"""The member operations the API and the workbench share: find a member within the actor's scope,
enrol a customer, redeem, adjust and reverse points.

Both front ends call these, so a form in the workbench obeys the same rules and answers with the
same errors (``APIError`` with per-field ``errors``) as ``/api/v1/loyalty``. Messages are
translated at the time they are raised (the request's language: the API's ``Accept-Language``, the
workbench user's choice).
"""

from __future__ import annotations

import peewee as pw
from flask_babel import gettext as _

from crm_core.plugin_api import (
    APIError,
    create_record,
    database,
    mask,
    record_dict,
    record_written,
    require,
    scoped,
    update_record,
    utcnow,
)

from . import activities, customers, ledger, tiers
from .models import LedgerEntry, Member, Tier
from .schemas import LoyaltyMemberSchema

MEMBERS = "loyalty.members"
POINTS = "loyalty.points"


def member_for(
    customer_id: int, actor, resource: str = MEMBERS, action: str = "read", lock: bool = False
) -> Member:
    """The member of ``customer_id`` within the actor's read scope (404 outside), with ``action``
    on ``resource`` required on it (403). ``lock``: read it with its row lock, inside
    ``ledger.write_transaction()``, for a ledger write."""
    query = (
        Member.select(Member, Tier).join(Tier, pw.JOIN.LEFT_OUTER).where(Member.customer_id == customer_id)
    )
    if lock:
        query = ledger.locking(query)
    member = scoped(query, actor, MEMBERS, "read", model=Member).first()
    if member is None:
        raise APIError(404, _("Customer %(id)s is not a loyalty member.", id=customer_id))
    if (resource, action) != (MEMBERS, "read"):
        require(actor, resource, action, member)
    return member


def member_image(member: Member, **extra) -> dict:
    """What the audit log and the outbox keep of a member: its columns and its tier's code."""
    data = record_dict(member)
    data["tier"] = member.tier.code if member.tier_id else None
    return {**data, **extra}


def entry_written(entry: LedgerEntry, member: Member, actor) -> None:
    """Tell the core's write path (audit, outbox) about a new ledger entry, inside the ledger
    write's transaction. The image carries the member's customer and ownership, so the audit view
    shows the entry to whoever may read the member's points."""
    after = record_dict(entry)
    after.update(
        customer_id=member.customer_id,
        member_no=member.member_no,
        owner_id=member.owner_id,
        department_id=member.department_id,
    )
    # the ledger emits its own points.* event for the entry: no generic one beside it
    record_written("create", POINTS, entry, actor, None, after, extra={"event": False})


def member_detail(member: Member, actor=None) -> dict:
    """A member with points in buckets and tier progress, masked for ``actor``."""
    data = LoyaltyMemberSchema().dump(member)
    data["points"] = ledger.balance(member)
    data["progress"] = tiers.progress(member)
    return mask(actor, MEMBERS, data) if actor is not None else data


def enrol(data: dict, actor, now=None) -> Member:
    """Enrol the customer ``data["customer_id"]`` (validated by ``LoyaltyMemberSchema``): base tier,
    signup bonus; owner and department default to the actor's. 422 on ``customer_id`` when the
    actor may not read that customer (alike for one that does not exist), 409 when already a
    member."""
    # first: may the actor read this customer at all? (422 alike for absent and out of scope,
    # before the 409 below could reveal that someone else enrolled it)
    customers.require_readable(data["customer_id"], actor)
    if Member.select().where(Member.customer_id == data["customer_id"]).exists():
        raise APIError(
            409,
            _("This customer is already a member."),
            errors={"customer_id": [_("Already enrolled.")]},
        )
    now = now or utcnow()

    def stamp(record, values, before):
        record.member_no = activities.member_number(now)
        record.joined_at = ledger.to_naive_utc(values.get("joined_at")) or now

    def welcome(record, values, before):
        activities.welcome(record, now)

    with database.atomic():
        member = create_record(MEMBERS, Member, data, actor, before_save=stamp, after_save=welcome)
    return Member.get_by_id(member.id)


def update_member(customer_id: int, data: dict, actor) -> Member:
    """Change a member (``LoyaltyMemberUpdateSchema``: channel, birthday, ownership); a ``tier``
    code moves them by hand, recorded with ``reason``. Needs ``loyalty.members:update``; 422 on
    ``tier`` for an unknown code."""
    data = dict(data)
    code = data.pop("tier", None)
    reason = data.pop("reason", "") or "manual change"
    with database.atomic():
        member = member_for(customer_id, actor, MEMBERS, "update")
        if data:
            member = update_record(MEMBERS, member, data, actor)
        if code is not None:
            tier = Tier.get_or_none(Tier.code == code)
            if tier is None:
                raise APIError(422, _("Unknown tier."), errors={"tier": [_("No tier %(code)r.", code=code)]})
            if tier.id != member.tier_id:
                before = member_image(member, reason=None)
                tiers.change_tier(member, tier, "manual", reason, actor_id=actor.id)
                record_written(  # tier.changed is the event of a tier change
                    "update",
                    MEMBERS,
                    member,
                    actor,
                    before,
                    member_image(member, reason=reason),
                    extra={"event": False},
                )
    return Member.get_by_id(member.id)


def redeem(customer_id: int, data: dict, reference: str, actor) -> tuple[Member, LedgerEntry, bool]:
    """Spend ``data["points"]`` of the member's active points (``LoyaltyRedeemSchema``); 409 with a
    message on ``points`` when fewer are spendable. Returns ``(member, entry, created)``; a new
    entry carries ``consumed`` and ``points_after`` (see :func:`crm_loyalty.ledger.redeem`)."""
    with ledger.write_transaction():
        member = member_for(customer_id, actor, POINTS, "redeem", lock=True)
        entry, created = ledger.redeem(
            member, data["points"], reference, reason=data.get("reason", ""), actor_id=actor.id
        )
        if created:
            entry_written(entry, member, actor)
    return member, entry, created


def adjust(customer_id: int, data: dict, reference: str, actor) -> tuple[Member, LedgerEntry, bool]:
    """Credit (positive ``points``) or deduct (negative) by hand, with a reason
    (``LoyaltyAdjustSchema``); needs ``loyalty.points:adjust``. A deduction never takes the
    balance below zero (409 on ``points``)."""
    with ledger.write_transaction():
        member = member_for(customer_id, actor, POINTS, "adjust", lock=True)
        if data["points"] > 0:
            entry, created = ledger.credit(
                member,
                data["points"],
                reference,
                kind="adjust",
                reason=data["reason"],
                expires_at=ledger.to_naive_utc(data.get("expires_at")),
                actor_id=actor.id,
            )
        else:
            entry, created = ledger.debit(
                member, -data["points"], reference, reason=data["reason"], actor_id=actor.id
            )
            if created:
                ledger.notify("points.adjusted", member, entry.points, data["reason"], reference=reference)
        if created:
            entry_written(entry, member, actor)
    return member, entry, created


def reverse(customer_id: int, data: dict, reference: str, actor) -> tuple[Member, LedgerEntry, bool]:
    """Reverse the member's entry ``data["entry_id"]``: an earning (all or ``points`` of it) or a
    redemption (``LoyaltyReverseSchema``); needs ``loyalty.points:adjust``. 404 on ``entry_id``
    for an entry of another member."""
    with ledger.write_transaction():
        member = member_for(customer_id, actor, POINTS, "adjust", lock=True)
        original = LedgerEntry.get_or_none(LedgerEntry.id == data["entry_id"], LedgerEntry.member == member)
        if original is None:
            raise APIError(
                404,
                _("No such ledger entry for this member."),
                errors={"entry_id": [_("Not found.")]},
            )
        entry, created = ledger.reverse(
            member,
            original,
            reference,
            points=data.get("points"),
            reason=data.get("reason", ""),
            actor_id=actor.id,
        )
        if created:
            entry_written(entry, member, actor)
    return member, entry, created
