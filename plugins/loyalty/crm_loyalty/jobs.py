"""Scheduled work (``crm_jobs``, ids ``loyalty:<job>``), also runnable as ``crm loyalty <job>``.

Each job takes ``now`` so that tests and back-fills can run it as of a given time.
"""

from __future__ import annotations

import datetime as dt
import logging

import peewee as pw
from flask_babel import lazy_gettext as _l

from crm_core.plugin_api import database, utcnow

from . import core, ledger, tiers
from .models import Lot, Member

log = logging.getLogger(__name__)


def evaluate_tiers(now: dt.datetime | None = None) -> dict:
    """Downgrades (after retention and grace) and catch-up upgrades of every member, set-based."""
    result = tiers.evaluate(now or utcnow())
    log.info("loyalty tier evaluation: %s", result)
    return result


def expire_points(now: dt.datetime | None = None) -> dict:
    """Expire what is left of every lot past its expiry date; one ``points.expired`` per member."""
    now = now or utcnow()
    due = Lot.select(Lot.member).where(Lot.remaining > 0, Lot.expires_at <= now).distinct().tuples()
    members, points = 0, 0
    for (member_id,) in list(due):
        with ledger.member_lock(member_id) as member:
            expired = ledger.expire_due(member, now)
        members += 1 if expired else 0
        points += expired
    return {"members": members, "points": points}


def activate_pending(now: dt.datetime | None = None) -> dict:
    """Mark pending lots whose return window has closed as active and tell each member
    (``points.activated``). Spendability itself follows ``available_at``, so nothing waits on
    this job to be correct."""
    now = now or utcnow()
    due = Lot.select().where(
        Lot.activated_at.is_null(),
        Lot.available_at <= now,
        Lot.available_at > Lot.earned_at,
        Lot.remaining > 0,
    )
    with database.atomic():
        per_member = list(
            Lot.select(Lot.member, pw.fn.SUM(Lot.remaining).alias("pts"))
            .where(Lot.id.in_(due.select(Lot.id)))
            .group_by(Lot.member)
            .tuples()
        )
        Lot.update(activated_at=now).where(Lot.id.in_(due.select(Lot.id))).execute()
        members = {m.id: m for m in Member.select().where(Member.id.in_([m for m, _ in per_member]))}
        for member_id, pts in per_member:
            core.emit("points.activated", {**ledger.member_ref(members[member_id]), "points": int(pts)})
    return {"members": len(per_member), "points": sum(int(p) for _, p in per_member)}


def expiring_reminders(now: dt.datetime | None = None) -> dict:
    """``points.expiring`` for each member with points expiring within ``reminder_days``; each
    lot is reminded about once."""
    now = now or utcnow()
    horizon = now + dt.timedelta(days=ledger.program().reminder_days)
    due = Lot.select(Lot.id).where(
        Lot.reminded_at.is_null(), Lot.remaining > 0, Lot.expires_at > now, Lot.expires_at <= horizon
    )
    with database.atomic():
        per_member = list(
            Lot.select(Lot.member, pw.fn.SUM(Lot.remaining), pw.fn.MIN(Lot.expires_at))
            .where(Lot.id.in_(due))
            .group_by(Lot.member)
            .tuples()
        )
        Lot.update(reminded_at=now).where(Lot.id.in_(due)).execute()
        members = {m.id: m for m in Member.select().where(Member.id.in_([m for m, _, _ in per_member]))}
        for member_id, pts, first in per_member:
            first = first if isinstance(first, dt.datetime) else dt.datetime.fromisoformat(str(first))
            core.emit(
                "points.expiring",
                {
                    **ledger.member_ref(members[member_id]),
                    "points": int(pts),
                    "expires_at": first,
                    "balance": ledger.ledger_sum(members[member_id]),
                    "reason": "points expiring soon",
                },
            )
    return {"members": len(per_member), "points": sum(int(p) for _, p, _ in per_member)}


JOBS = {
    "evaluate_tiers": (evaluate_tiers, {"trigger": "cron", "hour": 2, "minute": 0}),
    "expire_points": (expire_points, {"trigger": "cron", "hour": 0, "minute": 10}),
    "activate_pending": (activate_pending, {"trigger": "interval", "hours": 1}),
    "expiring_reminders": (expiring_reminders, {"trigger": "cron", "hour": 9, "minute": 0}),
}

#: what the jobs page says of each job (in the reader's language; the core translates the
#: English text through the merged catalogues when it shows it)
DESCRIPTIONS = {
    "evaluate_tiers": _l(
        "Evaluate every member's tier: downgrades after retention and grace, catch-up upgrades."
    ),
    "expire_points": _l("Expire the points of every lot past its expiry date."),
    "activate_pending": _l("Make pending points active once their return window has closed."),
    "expiring_reminders": _l("Remind members whose points expire soon."),
}
