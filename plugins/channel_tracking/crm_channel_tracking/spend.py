"""Campaign spend by day: set (replace) the amounts of some days, audited as a campaign update.

The API (``PUT /campaigns/<id>/spend``), the workbench's spend form and the demo data all write
spend through :func:`set_spend`, so every write leaves the same audit entry and outbox event.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import peewee as pw

from crm_core.plugin_api import database, record_written, utcnow

from .models import Campaign, Spend

CENTS = Decimal("0.01")


def set_spend(campaign: Campaign, days: dict[dt.date, Decimal], actor) -> None:
    """Set the spend of each day in ``days`` (replacing what was there; other days are kept),
    with one audit entry for the days whose amount changed. The caller checks the permission
    (the campaign's ``update``)."""
    with database.atomic():
        old = {
            row.day: row.amount
            for row in Spend.select(Spend.day, Spend.amount).where(
                Spend.campaign == campaign, Spend.day.in_(list(days))
            )
        }
        Spend.delete().where(Spend.campaign == campaign, Spend.day.in_(list(days))).execute()
        now = utcnow()
        Spend.insert_many(
            [
                {"campaign": campaign.id, "day": day, "amount": amount, "created_at": now, "updated_at": now}
                for day, amount in days.items()
            ]
        ).execute()
        _spend_written(campaign, actor, old, days)


def _spend_written(campaign: Campaign, actor, old: dict, new: dict) -> None:
    """One audit entry (and ``channel_tracking.campaigns.updated`` outbox event) per spend import,
    through the core's write path inside the import's transaction: the days it set, with their
    amounts before (absent: no spend that day) and after. Spend is part of its campaign: the
    campaign's ``update`` permission governs it, so its audit entries are the campaign's."""

    def image(values: dict) -> dict:
        return {
            "id": campaign.id,
            "name": campaign.name,
            "spend": {d.isoformat(): str(Decimal(v).quantize(CENTS)) for d, v in values.items()},
        }

    changed = {day: amount for day, amount in new.items() if old.get(day) != amount}
    if not changed:
        return
    before = image({day: old[day] for day in changed if day in old})
    record_written("update", "channel_tracking.campaigns", campaign, actor, before, image(changed))


def total_spend(campaign_ids, date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict:
    """``{campaign id: total spend}`` of the campaigns, over ``[date_from, date_to)`` when given."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    query = Spend.select(Spend.campaign, pw.fn.SUM(Spend.amount)).where(Spend.campaign.in_(ids))
    if date_from:
        query = query.where(Spend.day >= date_from)
    if date_to:
        query = query.where(Spend.day < date_to)
    return {cid: Decimal(total or 0) for cid, total in query.group_by(Spend.campaign).tuples()}
