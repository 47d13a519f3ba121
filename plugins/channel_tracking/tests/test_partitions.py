"""Monthly partitions (PostgreSQL) and retention (both backends)."""

import datetime as dt

from crm_channel_tracking.models import Touchpoint
from crm_channel_tracking.partitions import (
    apply_retention,
    ensure_partitions,
    existing_partitions,
    month_start,
)

from crm_core.plugin_api import is_postgres


def add(at):
    Touchpoint.create(
        subject="v:x",
        visitor_id="x",
        event_type="page_view",
        occurred_at=at,
        received_at=at,
        channel_group="direct",
    )


def test_month_start():
    assert month_start(dt.date(2026, 12, 15), 1) == dt.date(2027, 1, 1)
    assert month_start(dt.date(2026, 1, 31), -2) == dt.date(2025, 11, 1)


def test_partitions_and_retention(db):
    far = dt.datetime(2031, 5, 3, 10, 0)
    add(far)  # no partition yet for May 2031: the row lands in the default partition
    old = dt.datetime(2020, 1, 5)
    add(old)
    try:
        if is_postgres(db):
            created = ensure_partitions(db, far.date(), far.date())
            assert created == ["channel_tracking_touchpoint_2031_05"]
            assert "channel_tracking_touchpoint_2031_05" in existing_partitions(db)
            # the row moved from the default partition into its month
            moved = db.execute_sql("SELECT count(*) FROM channel_tracking_touchpoint_2031_05").fetchone()[0]
            assert moved == 1
            assert ensure_partitions(db, far.date(), far.date()) == []
        apply_retention(db, 25, today=dt.date(2026, 11, 25))
        remaining = [t.occurred_at for t in Touchpoint.select().order_by(Touchpoint.occurred_at)]
        assert remaining == [far]
    finally:
        if is_postgres(db):
            # leave the shared test database as migrated (the fixture's reset does not expect
            # new partitions, whose indexes hang off the parent's)
            db.execute_sql("DROP TABLE IF EXISTS channel_tracking_touchpoint_2031_05")
