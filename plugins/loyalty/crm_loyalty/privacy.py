"""Privacy: export and erasure of what the loyalty programme stores about a customer."""

from __future__ import annotations

from decimal import Decimal

from . import ledger, tiers
from .models import Activity, LedgerEntry, Member, TierChange
from .schemas import LoyaltyEntrySchema, LoyaltyMemberSchema, LoyaltyTierChangeSchema


def _money(value) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _customer_id(customer) -> int:
    return int(getattr(customer, "id", customer))


def export_customer(customer) -> dict | None:
    """The member, points, ledger, activities and tier history of ``customer`` (None: not a member)."""
    member = Member.get_or_none(Member.customer_id == _customer_id(customer))
    if member is None:
        return None
    entries = LedgerEntry.select().where(LedgerEntry.member == member).order_by(LedgerEntry.id)
    acts = Activity.select().where(Activity.member == member).order_by(Activity.id)
    changes = TierChange.select().where(TierChange.member == member).order_by(TierChange.id)
    return {
        "member": LoyaltyMemberSchema().dump(member),
        "points": ledger.balance(member),
        "progress": tiers.progress(member),
        "ledger": LoyaltyEntrySchema(many=True).dump(list(entries)),
        "activities": [
            {
                "kind": a.kind,
                "reference": a.reference,
                "occurred_at": a.occurred_at.isoformat(),
                "amount": _money(a.amount),
                "orders": a.orders,
                "growth": _money(a.growth),
            }
            for a in acts
        ],
        "tier_changes": LoyaltyTierChangeSchema(many=True).dump(list(changes)),
    }


def erase_customer(customer) -> None:
    """Delete the member and everything hanging off it (ledger, lots, activities, tier history)."""
    member = Member.get_or_none(Member.customer_id == _customer_id(customer))
    if member is not None:
        # explicit deletes, children first: no reliance on ON DELETE CASCADE being enforced
        from .models import Allocation, Lot

        entry_ids = LedgerEntry.select(LedgerEntry.id).where(LedgerEntry.member == member)
        Allocation.delete().where(Allocation.entry.in_(entry_ids)).execute()
        Lot.delete().where(Lot.member == member).execute()
        LedgerEntry.update(reverses=None).where(LedgerEntry.member == member).execute()
        LedgerEntry.delete().where(LedgerEntry.member == member).execute()
        Activity.delete().where(Activity.member == member).execute()
        TierChange.delete().where(TierChange.member == member).execute()
        member.delete_instance()
