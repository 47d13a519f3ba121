"""Earning rules as data: how many points a purchase or a bonus event is worth.

A purchase rule gives ``amount * rate`` points, times the member's tier multiplier when the rule
says so, rounded as the rule says (down, half up, up). A bonus rule (signup, birthday month,
review, live-stream interaction, referral) gives fixed ``points``, also multiplied when asked.
Caps per day and per calendar month bound what one rule can give one member.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal

import peewee as pw

from crm_core.plugin_api import APIError

from .models import EarningRule, LedgerEntry, Member

MAX_POINTS = 10**9  # one ledger entry; the columns are 32-bit integers

_ROUNDING = {"down": ROUND_DOWN, "half_up": ROUND_HALF_UP, "up": ROUND_UP}


def round_points(value: Decimal, mode: str) -> int:
    """Round a Decimal number of points to a whole number with the rule's rounding mode."""
    return int(Decimal(value).quantize(Decimal(1), rounding=_ROUNDING[mode]))


def earned_since(member: Member, rule: EarningRule, since: dt.datetime) -> int:
    """Points ``rule`` gave ``member`` since ``since`` (refunds do not give cap room back)."""
    gained = (
        LedgerEntry.select(pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.points), 0))
        .where(
            LedgerEntry.member == member,
            LedgerEntry.rule == rule,
            LedgerEntry.kind == "earn",
            LedgerEntry.created_at >= since,
        )
        .scalar()
    )
    return int(gained)


def apply_caps(member: Member, rule: EarningRule, points: int, now: dt.datetime) -> int:
    """Cut ``points`` so that the rule's daily and monthly caps are not exceeded."""
    day = dt.datetime(now.year, now.month, now.day)
    month = dt.datetime(now.year, now.month, 1)
    if rule.cap_per_day is not None:
        points = min(points, max(0, rule.cap_per_day - earned_since(member, rule, day)))
    if rule.cap_per_month is not None:
        points = min(points, max(0, rule.cap_per_month - earned_since(member, rule, month)))
    return points


def _multiplier(member: Member, rule: EarningRule) -> Decimal:
    if rule.apply_multiplier and member.tier_id is not None:
        return Decimal(member.tier.multiplier)
    return Decimal(1)


def purchase_points(member: Member, amount: Decimal, now: dt.datetime) -> list[tuple[EarningRule, int]]:
    """[(rule, points)] a purchase of ``amount`` earns under the active purchase rules."""
    out = []
    rules = EarningRule.select().where(EarningRule.kind == "purchase", EarningRule.active == True)  # noqa: E712
    for rule in rules.order_by(EarningRule.id):
        if amount < Decimal(rule.min_amount):
            continue
        points = round_points(amount * Decimal(rule.rate) * _multiplier(member, rule), rule.rounding)
        if points > MAX_POINTS:
            raise APIError(
                422, "This purchase would earn too many points.", errors={"amount": ["Too large."]}
            )
        points = apply_caps(member, rule, points, now)
        if points > 0:
            out.append((rule, points))
    return out


def bonus_points(member: Member, kind: str, now: dt.datetime) -> list[tuple[EarningRule, int]]:
    """[(rule, points)] a bonus event of ``kind`` earns (birthday only in the birthday month)."""
    if kind == "birthday" and (member.birthday is None or member.birthday.month != now.month):
        return []
    out = []
    rules = EarningRule.select().where(EarningRule.kind == kind, EarningRule.active == True)  # noqa: E712
    for rule in rules.order_by(EarningRule.id):
        points = round_points(Decimal(rule.points) * _multiplier(member, rule), rule.rounding)
        points = apply_caps(member, rule, points, now)
        if points > 0:
            out.append((rule, points))
    return out
