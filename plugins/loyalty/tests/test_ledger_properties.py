"""Property tests of the points ledger: for any sequence of earn / redeem / expire / refund /
adjust / reversal (and repeats of them), the balance is the ledger sum, the lots account for it,
and the balance is never negative where the refund policy forbids it."""

from __future__ import annotations

import datetime as dt

import peewee as pw
import pytest
from crm_loyalty import ledger
from crm_loyalty.models import MODELS, Allocation, LedgerEntry, Lot, Member, Program
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from crm_core.plugin_api import APIError, database

START = dt.datetime(2026, 1, 1, 12, 0)

earn = st.tuples(
    st.just("earn"), st.integers(1, 500), st.booleans(), st.one_of(st.none(), st.integers(1, 60))
)
redeem = st.tuples(st.just("redeem"), st.integers(1, 300))
expire = st.tuples(st.just("expire"), st.integers(0, 40))
refund = st.tuples(st.just("refund"), st.integers(0, 20), st.one_of(st.none(), st.integers(1, 500)))
adjust = st.tuples(st.just("adjust"), st.integers(-300, 300).filter(bool))
unredeem = st.tuples(st.just("unredeem"), st.integers(0, 20))
repeat = st.tuples(st.just("repeat"), st.integers(0, 30))
# earnings, redemptions and refunds weighted up so that spent-then-refunded (debt) states are common
operations = st.lists(
    st.one_of(earn, earn, redeem, redeem, refund, refund, expire, adjust, unredeem, repeat), max_size=25
)


def reset(policy: str) -> Member:
    for model in reversed(MODELS):
        if model is not Program:
            model.delete().execute()
    Program.update(refund_policy=policy, expiry_mode="never").where(Program.id == 1).execute()
    return Member.create(customer_id=1, member_no="M1", joined_at=START)


def check(member: Member, now: dt.datetime, policy: str) -> None:
    total = ledger.ledger_sum(member)
    remaining = Lot.select(pw.fn.COALESCE(pw.fn.SUM(Lot.remaining), 0)).where(Lot.member == member).scalar()
    debt_in_sum = (
        LedgerEntry.select(pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.outstanding), 0))
        .where(LedgerEntry.member == member, LedgerEntry.debt_policy == "debt")
        .scalar()
    )
    assert total == int(remaining) - int(debt_in_sum)
    for lot in Lot.select().where(Lot.member == member):
        assert 0 <= lot.remaining <= lot.points
        used = (
            Allocation.select(pw.fn.COALESCE(pw.fn.SUM(Allocation.points), 0))
            .where(Allocation.lot == lot)
            .scalar()
        )
        assert lot.points - lot.remaining == int(used)
    for earned in LedgerEntry.select().where(LedgerEntry.member == member, LedgerEntry.kind == "earn"):
        # refunds never take back more than an earning gave, counting what expired unused
        assert ledger.reversed_points(earned) + ledger.expired_points_of(earned) <= earned.points
    buckets = ledger.balance(member, now)
    if buckets["debt"]:
        event(f"debt under {policy}")  # shows the generator reaches the interesting states
    assert buckets["balance"] == total
    assert (
        min(buckets["pending"], buckets["active"], buckets["spent"], buckets["expired"], buckets["debt"]) >= 0
    )
    if policy == "clawback":
        assert total >= 0
    elif total < 0:
        assert buckets["debt"] >= -total and buckets["active"] == 0
    if buckets["debt"]:
        assert buckets["active"] == 0 and buckets["pending"] == 0


def apply(member_id: int, op, step: int, now: dt.datetime, history: list):
    kind = op[0]
    with ledger.member_lock(member_id) as member:
        if kind == "earn":
            _, points, pending, expiry_days = op
            expires = now + dt.timedelta(days=expiry_days) if expiry_days else None
            available = now + dt.timedelta(days=7) if pending else now
            args = (member, points, f"e{step}")
            kwargs = {"available_at": available, "expires_at": expires, "now": now, "emit": False}
            ledger.credit(*args, **kwargs)
            history.append(("credit", args[1:], kwargs))
        elif kind == "redeem":
            before = ledger.ledger_sum(member)
            spendable = ledger.spendable_points(member, now)
            try:
                ledger.redeem(member, op[1], f"r{step}", now=now)
                history.append(("redeem", (op[1], f"r{step}"), {"now": now}))
            except APIError as exc:
                assert exc.code == 409 and op[1] > spendable
                assert ledger.ledger_sum(member) == before
        elif kind == "expire":
            ledger.expire_due(member, now)
        elif kind == "refund":
            earns = list(LedgerEntry.select().where(LedgerEntry.member == member, LedgerEntry.kind == "earn"))
            if earns:
                target = earns[op[1] % len(earns)]
                try:
                    ledger.reverse(member, target, f"f{step}", points=op[2], now=now)
                except APIError as exc:
                    assert exc.code == 409  # fully reversed already
        elif kind == "adjust":
            if op[1] > 0:
                ledger.credit(member, op[1], f"a{step}", kind="adjust", now=now, emit=False)
            else:
                try:
                    ledger.debit(member, -op[1], f"a{step}", now=now)
                except APIError as exc:
                    assert exc.code == 409 and -op[1] > ledger.spendable_points(member, now)
        elif kind == "unredeem":
            redeems = list(
                LedgerEntry.select().where(LedgerEntry.member == member, LedgerEntry.kind == "redeem")
            )
            if redeems:
                target = redeems[op[1] % len(redeems)]
                try:
                    ledger.reverse(member, target, f"u{step}", now=now)
                except APIError as exc:
                    assert exc.code == 409  # already reversed
        elif kind == "repeat" and history:
            what, args, kwargs = history[op[1] % len(history)]
            before = ledger.ledger_sum(member)
            entry, created = getattr(ledger, what)(member, *args, **kwargs)
            assert not created and ledger.ledger_sum(member) == before


@pytest.fixture
def db_app(app):
    return app


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, policy=st.sampled_from(["debt", "clawback"]))
def test_balance_is_the_ledger_sum_and_never_negative_where_forbidden(db_app, ops, policy):
    with database.atomic() as txn:
        member = reset(policy)
        now = START
        history: list = []
        for step, op in enumerate(ops):
            if op[0] == "expire":
                now += dt.timedelta(days=op[1])
            apply(member.id, op, step, now, history)
            check(Member.get_by_id(member.id), now, policy)
        txn.rollback()
