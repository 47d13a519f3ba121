"""Tiers: qualification, immediate upgrades, scheduled downgrades, and members' progress.

A tier's threshold applies to a metric EARNED in a window: spend amount, paid order count or
growth value (points earned, not spent) over a rolling N days, the calendar year, or lifetime.
The spendable points balance never counts, so redeeming points never costs a member a tier.

- Upgrades happen at once, on the activity that crosses a threshold.
- Downgrades happen only when :func:`evaluate` runs (the ``loyalty:evaluate_tiers`` job): a member
  below the tier's threshold who has held it for ``retention_days`` gets ``grace_days`` to
  requalify; after that they drop to the tier they qualify for, but at most ``downgrade_steps``
  levels per evaluation. The evaluation is set-based SQL, whatever the number of members.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import peewee as pw

from crm_core.plugin_api import database, is_postgres, utcnow

from . import core
from .ledger import member_ref, program
from .models import Activity, Evaluation, Member, Tier, TierChange

REASONS = {
    "initial": "evaluation: first tier",
    "up": "evaluation: qualifies for a higher tier",
    "down": "evaluation: below the tier's threshold after retention and grace",
}
METRIC_COLUMNS = {"spend": Activity.amount, "orders": Activity.orders, "growth": Activity.growth}


def ordered_tiers() -> list[Tier]:
    """Tiers from the base (lowest rank) up."""
    return list(Tier.select().order_by(Tier.rank))


def window_start(tier: Tier, now: dt.datetime) -> dt.datetime | None:
    """Start of the tier's qualification window at ``now`` (None: lifetime)."""
    if tier.window == "rolling":
        return now - dt.timedelta(days=tier.window_days or 365)
    if tier.window == "calendar_year":
        return dt.datetime(now.year, 1, 1)
    return None


def window_end(tier: Tier, now: dt.datetime) -> dt.datetime | None:
    """When the current window closes (calendar year), or None (rolling and lifetime never close)."""
    if tier.window == "calendar_year":
        return dt.datetime(now.year + 1, 1, 1)
    return None


def _metric_expr(tier: Tier, now: dt.datetime):
    column = METRIC_COLUMNS[tier.metric]
    start = window_start(tier, now)
    if start is None:
        return pw.fn.SUM(column)
    return pw.fn.SUM(pw.Case(None, [(Activity.occurred_at >= start, column)], 0))


def _number(value: Decimal):
    # SQLite compares a bound text/Decimal with a number as text; bind a float there
    return Decimal(value) if is_postgres() else float(value)


def metric_value(member: Member, tier: Tier, now: dt.datetime | None = None) -> Decimal:
    """The member's value of ``tier``'s metric in its window."""
    now = now or utcnow()
    value = (
        Activity.select(pw.fn.COALESCE(_metric_expr(tier, now), 0)).where(Activity.member == member).scalar()
    )
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def qualified_tier(member: Member, now: dt.datetime | None = None) -> Tier | None:
    """The highest tier whose threshold the member meets, or the base tier."""
    tiers = ordered_tiers()
    for tier in reversed(tiers):
        if metric_value(member, tier, now) >= Decimal(tier.threshold):
            return tier
    return tiers[0] if tiers else None


def change_tier(
    member: Member,
    tier: Tier | None,
    direction: str,
    reason: str,
    now: dt.datetime | None = None,
    actor_id: int | None = None,
) -> TierChange:
    """Move the member to ``tier``, record why, and emit ``tier.changed``."""
    now = now or utcnow()
    before = member.tier if member.tier_id else None
    change = TierChange.create(
        member=member,
        from_tier=before,
        to_tier=tier,
        direction=direction,
        reason=reason,
        actor_id=actor_id,
        created_at=now,
    )
    Member.update(tier=tier, tier_since=now, grace_until=None).where(Member.id == member.id).execute()
    member.tier, member.tier_since, member.grace_until = tier, now, None
    core.emit("tier.changed", tier_event(member, before, tier, direction, reason))
    return change


def tier_event(member, before: Tier | None, after: Tier | None, direction: str, reason: str) -> dict:
    """The ``tier.changed`` payload; carries the new tier's benefits so other plugins need no import."""
    return {
        **member_ref(member),
        "from_tier": before.code if before else None,
        "to_tier": after.code if after else None,
        "direction": direction,
        "reason": reason,
        "multiplier": str(after.multiplier) if after else None,
        "benefits": after.benefits if after else {},
    }


def check_upgrade(member: Member, reason: str, now: dt.datetime | None = None) -> TierChange | None:
    """Upgrade the member now if their metrics cross a higher tier's threshold (never downgrades).

    A member who requalifies for their own tier leaves the grace period.
    """
    now = now or utcnow()
    target = qualified_tier(member, now)
    if target is None:
        return None
    current = member.tier if member.tier_id else None
    if current is None or target.rank > current.rank:
        return change_tier(member, target, "initial" if current is None else "up", reason, now)
    if member.grace_until is not None and target.rank >= current.rank:
        Member.update(grace_until=None).where(Member.id == member.id).execute()
        member.grace_until = None
    return None


def evaluate(now: dt.datetime | None = None, emit_events: bool = True) -> dict:
    """The scheduled evaluation of every member, as a handful of set-based statements.

    Fills ``loyalty_evaluation`` with each member's current and qualified rank, clears the grace
    period of members who qualify again, starts it for those who fail after retention, and moves
    members whose grace has run out (at most ``downgrade_steps`` levels) or who qualify higher.
    Returns counts: ``{"members", "grace_started", "grace_cleared", "upgraded", "downgraded"}``.
    """
    now = now or utcnow()
    prog = program()
    tiers = ordered_tiers()
    if not tiers:
        return {"members": 0, "grace_started": 0, "grace_cleared": 0, "upgraded": 0, "downgraded": 0}
    ranks = [t.rank for t in tiers]
    E = Evaluation
    with database.atomic():
        if is_postgres():
            # real-time upgrades (which lock a member FOR UPDATE) wait for the evaluation, so it
            # never overwrites an upgrade made after it read the members; plain reads go on
            database.execute_sql("LOCK TABLE loyalty_member IN EXCLUSIVE MODE")
            database.execute_sql("TRUNCATE loyalty_evaluation")
        else:
            E.delete().execute()
        fill_evaluation(tiers, now)
        if is_postgres():
            # fresh statistics, or the planner guesses at the scratch table's size
            database.execute_sql("ANALYZE loyalty_evaluation")
        grace_until = now + dt.timedelta(days=prog.grace_days)
        retained = now - dt.timedelta(days=prog.retention_days)
        if is_postgres():
            # counted here, applied with the moves below: each member is written once
            cleared, started = _grace_counts(retained)
        else:
            cleared, started = _apply_grace(grace_until, retained)
        steps = prog.downgrade_steps
        floor = pw.Case(
            E.current_rank,
            [(r, ranks[max(0, i - steps)] if steps > 0 else ranks[0]) for i, r in enumerate(ranks)],
        )
        # a grace run out, or one that starts now already over (no grace days)
        over = Member.grace_until <= now
        if is_postgres() and grace_until <= now:
            over = over | (Member.grace_until.is_null() & (Member.tier_since <= retained))
        downgraded = (
            E.update(target_rank=pw.Case(None, [(E.qualified_rank > floor, E.qualified_rank)], floor))
            .where(
                E.qualified_rank < E.current_rank,
                E.member_id.in_(Member.select(Member.id).where(over)),
            )
            .execute()
        )
        upgraded = (
            E.update(target_rank=E.qualified_rank)
            .where(E.current_rank.is_null() | (E.qualified_rank > E.current_rank))
            .execute()
        )
        From, To = Tier.alias("tf"), Tier.alias("tt")
        moved = (
            E.select(
                E.member_id,
                From.id,
                To.id,
                pw.Case(
                    None,
                    [(E.current_rank.is_null(), "initial"), (E.target_rank > E.current_rank, "up")],
                    "down",
                ),
                pw.Case(
                    None,
                    [
                        (E.current_rank.is_null(), REASONS["initial"]),
                        (E.target_rank > E.current_rank, REASONS["up"]),
                    ],
                    REASONS["down"],
                ),
                pw.Value(now),
                pw.Value(now),
            )
            .join(To, on=(To.rank == E.target_rank))
            .join(From, pw.JOIN.LEFT_OUTER, on=(From.rank == E.current_rank))
            .where(E.target_rank.is_null(False))
        )
        TierChange.insert_from(
            moved,
            [
                TierChange.member,
                TierChange.from_tier,
                TierChange.to_tier,
                TierChange.direction,
                TierChange.reason,
                TierChange.created_at,
                TierChange.updated_at,
            ],
        ).execute()
        if is_postgres():
            _move_members_pg(now, grace_until, retained)
        else:  # (UPDATE ... FROM needs SQLite 3.33)
            new_tier = (
                Tier.select(Tier.id).join(E, on=(E.target_rank == Tier.rank)).where(E.member_id == Member.id)
            )
            Member.update(tier=new_tier, tier_since=now, grace_until=None).where(
                Member.id.in_(E.select(E.member_id).where(E.target_rank.is_null(False)))
            ).execute()
        if emit_events:
            _emit_changes(tiers, now)
    return {
        "members": E.select().count(),
        "grace_started": started,
        "grace_cleared": cleared,
        "upgraded": upgraded,
        "downgraded": downgraded,
    }


def _apply_grace(grace_until: dt.datetime, retained: dt.datetime) -> tuple[int, int]:
    """Clear the grace of members who qualify again; start it for those who fail after
    retention. Returns ``(cleared, started)``."""
    E = Evaluation
    cleared = (
        Member.update(grace_until=None)
        .where(
            Member.grace_until.is_null(False),
            Member.id.in_(E.select(E.member_id).where(E.qualified_rank >= E.current_rank)),
        )
        .execute()
    )
    started = (
        Member.update(grace_until=grace_until)
        .where(
            Member.grace_until.is_null(),
            Member.tier_since <= retained,
            Member.id.in_(E.select(E.member_id).where(E.qualified_rank < E.current_rank)),
        )
        .execute()
    )
    return cleared, started


def _grace_counts(retained: dt.datetime) -> tuple[int, int]:
    """How many members :func:`_apply_grace` would clear and start, without writing them."""
    E = Evaluation
    cleared = pw.fn.SUM(
        pw.Case(None, [((Member.grace_until.is_null(False)) & (E.qualified_rank >= E.current_rank), 1)], 0)
    )
    started = pw.fn.SUM(
        pw.Case(
            None,
            [
                (
                    Member.grace_until.is_null()
                    & (Member.tier_since <= retained)
                    & (E.qualified_rank < E.current_rank),
                    1,
                )
            ],
            0,
        )
    )
    row = E.select(cleared, started).join(Member, on=(Member.id == E.member_id)).tuples().first()
    return int(row[0] or 0), int(row[1] or 0)


#: every member's change of one evaluation in one UPDATE (PostgreSQL): the move to its target
#: tier, else its grace cleared (it qualifies again) or started (it fails after retention)
_MOVE_PG = """
UPDATE loyalty_member m SET
    tier_id = CASE WHEN e.target_rank IS NOT NULL THEN t.id ELSE m.tier_id END,
    tier_since = CASE WHEN e.target_rank IS NOT NULL THEN %(now)s ELSE m.tier_since END,
    grace_until = CASE
        WHEN e.target_rank IS NOT NULL THEN NULL
        WHEN m.grace_until IS NOT NULL AND e.qualified_rank >= e.current_rank THEN NULL
        WHEN m.grace_until IS NULL AND m.tier_since <= %(retained)s
             AND e.qualified_rank < e.current_rank THEN %(grace)s
        ELSE m.grace_until END
FROM loyalty_evaluation e LEFT JOIN loyalty_tier t ON t.rank = e.target_rank
WHERE m.id = e.member_id AND (
    e.target_rank IS NOT NULL
    OR (m.grace_until IS NOT NULL AND e.qualified_rank >= e.current_rank)
    OR (m.grace_until IS NULL AND m.tier_since <= %(retained)s AND e.qualified_rank < e.current_rank))
"""


def _move_members_pg(now: dt.datetime, grace_until: dt.datetime, retained: dt.datetime) -> None:
    database.execute_sql(_MOVE_PG, {"now": now, "retained": retained, "grace": grace_until})


def fill_evaluation(tiers: list[Tier], now: dt.datetime) -> None:
    """INSERT ... SELECT each member's current rank and the rank they qualify for at ``now``."""
    agg = Activity.select(
        Activity.member.alias("mid"), *[_metric_expr(t, now).alias(f"m{i}") for i, t in enumerate(tiers)]
    ).group_by(Activity.member)
    agg = agg.alias("agg")
    cases = [
        (pw.fn.COALESCE(getattr(agg.c, f"m{i}"), 0) >= _number(t.threshold), t.rank)
        for i, t in reversed(list(enumerate(tiers)))
    ]
    query = (
        Member.select(Member.id, Tier.rank, pw.Case(None, cases, tiers[0].rank))
        .join(Tier, pw.JOIN.LEFT_OUTER, on=(Tier.id == Member.tier))
        .join(agg, pw.JOIN.LEFT_OUTER, on=(agg.c.mid == Member.id))
    )
    Evaluation.insert_from(
        query, [Evaluation.member_id, Evaluation.current_rank, Evaluation.qualified_rank]
    ).execute()


def _emit_changes(tiers: list[Tier], now: dt.datetime) -> None:
    by_rank = {t.rank: t for t in tiers}
    E = Evaluation
    rows = (
        E.select(E.current_rank, E.target_rank, Member)
        .join(Member, on=(Member.id == E.member_id))
        .where(E.target_rank.is_null(False))
        .objects()
    )
    for row in rows.iterator():
        before, after = by_rank.get(row.current_rank), by_rank[row.target_rank]
        direction = "initial" if before is None else ("up" if after.rank > before.rank else "down")
        core.emit("tier.changed", tier_event(row, before, after, direction, REASONS[direction]))


def progress(member: Member, now: dt.datetime | None = None) -> dict:
    """Where the member stands: the metric in its window, what the next tier needs, and what it
    takes (and by when) to keep the current tier at the next evaluations."""
    now = now or utcnow()
    prog = program()
    tiers = ordered_tiers()
    current = member.tier if member.tier_id else None
    out: dict = {
        "tier": current.code if current else None,
        "based_on": "value earned in the window, not the points balance",
    }
    if current is not None:
        value = metric_value(member, current, now)
        shortfall = max(Decimal(0), Decimal(current.threshold) - value)
        earliest = max(member.tier_since + dt.timedelta(days=prog.retention_days), now)
        keep_by = member.grace_until or (earliest + dt.timedelta(days=prog.grace_days))
        out["current"] = {
            "metric": current.metric,
            "window": current.window,
            "window_start": _iso(window_start(current, now)),
            "value": str(value),
            "threshold": str(current.threshold),
            "needed_to_keep": str(shortfall),
            "keep_by": keep_by.isoformat() if shortfall > 0 else None,
            "in_grace": member.grace_until is not None,
        }
    higher = [t for t in tiers if current is None or t.rank > current.rank]
    if higher:
        nxt = higher[0]
        value = metric_value(member, nxt, now)
        out["next"] = {
            "tier": nxt.code,
            "metric": nxt.metric,
            "window": nxt.window,
            "value": str(value),
            "threshold": str(nxt.threshold),
            "needed": str(max(Decimal(0), Decimal(nxt.threshold) - value)),
            "window_closes": _iso(window_end(nxt, now)),
        }
    else:
        out["next"] = None
    return out


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
