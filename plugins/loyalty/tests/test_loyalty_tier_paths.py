"""Tier evaluation on PostgreSQL writes each member once (grace cleared, grace started and the
move in one UPDATE); the end state and the counts must be those of the statement-per-step path
that SQLite runs, on the same members, for every programme setting that changes the rules."""

from __future__ import annotations

import datetime as dt

import pytest
from crm_loyalty import tiers

from crm_core.plugin_api import database

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

NOW = dt.datetime(2026, 11, 25, 2, 0)
MEMBERS = 600


def seed(grace_days: int, retention_days: int, steps: int) -> None:
    now = NOW
    for code, rank, threshold in (("t_silver", 10, 0), ("t_gold", 20, 1000), ("t_platinum", 30, 5000)):
        database.execute_sql(
            'INSERT INTO loyalty_tier (code, name, rank, metric, "window", window_days, threshold, multiplier,'
            " benefits, description, created_at, updated_at)"
            " VALUES (%s, %s, %s, 'spend', 'rolling', 365, %s, 1, '{}', '', %s, %s)",
            (code, code, rank, threshold, now, now),
        )
    database.execute_sql(
        "UPDATE loyalty_program SET grace_days = %s, retention_days = %s, downgrade_steps = %s",
        (grace_days, retention_days, steps),
    )
    database.execute_sql(
        "INSERT INTO customer (id, name, lifecycle_stage, custom, created_at, updated_at)"
        " SELECT 100000 + g, 'T ' || g, 'lead', '{}', %(now)s, %(now)s FROM generate_series(1, %(n)s) g",
        {"now": now, "n": MEMBERS},
    )
    # members in every state: each tier or none, recent or old, grace none / run out / running
    database.execute_sql(
        """
        INSERT INTO loyalty_member (customer_id, member_no, joined_at, channel, tier_id, tier_since,
                                    grace_until, custom, created_at, updated_at)
        SELECT 100000 + g, 'T' || g, %(now)s - interval '800 days', '',
               (SELECT id FROM loyalty_tier WHERE rank = (ARRAY[10, 20, 30, NULL])[1 + g %% 4]),
               %(now)s - (g %% 400) * interval '1 day',
               CASE g %% 5 WHEN 0 THEN %(now)s - interval '1 day' WHEN 1 THEN %(now)s + interval '10 days'
                           WHEN 2 THEN %(now)s END,
               '{}', %(now)s, %(now)s
        FROM generate_series(1, %(n)s) g
        """,
        {"now": now, "n": MEMBERS},
    )
    database.execute_sql(
        """
        INSERT INTO loyalty_activity (member_id, kind, reference, occurred_at, amount, orders, growth,
                                      created_at, updated_at)
        SELECT m.id, 'purchase', 'o' || k, %(now)s - ((m.id * 7 + k * 131) %% 500) * interval '1 day',
               ((m.id * 37 + k * 101) %% 3000)::numeric, 1, 0, %(now)s, %(now)s
        FROM loyalty_member m, generate_series(1, 3) k
        """,
        {"now": now},
    )


def state() -> tuple:
    members = database.execute_sql(
        "SELECT id, tier_id, tier_since, grace_until FROM loyalty_member ORDER BY id"
    ).fetchall()
    changes = database.execute_sql(
        "SELECT member_id, from_tier_id, to_tier_id, direction FROM loyalty_tier_change ORDER BY member_id"
    ).fetchall()
    return members, changes


@pytest.mark.parametrize(
    ("grace_days", "retention_days", "steps"), [(0, 0, 1), (0, 90, 2), (30, 0, 1), (30, 90, 0), (7, 30, 2)]
)
def test_one_write_per_member_ends_where_the_steps_do(app, monkeypatch, grace_days, retention_days, steps):
    with app.app_context():
        seed(grace_days, retention_days, steps)
        database.execute_sql(
            "CREATE TABLE t_copy AS SELECT id, tier_id, tier_since, grace_until FROM loyalty_member"
        )
        counts = tiers.evaluate(NOW, emit_events=False)
        ours = state()
        database.execute_sql(
            "UPDATE loyalty_member m SET tier_id = c.tier_id, tier_since = c.tier_since,"
            " grace_until = c.grace_until FROM t_copy c WHERE c.id = m.id"
        )
        database.execute_sql("DELETE FROM loyalty_tier_change")
        monkeypatch.setattr(tiers, "is_postgres", lambda *a: False)  # the statement-per-step path
        reference = tiers.evaluate(NOW, emit_events=False)
        assert state() == ours
        assert counts == reference
        assert (
            counts["upgraded"]
            and counts["downgraded"]
            and counts["grace_started"]
            and counts["grace_cleared"]
        )
