"""Monthly partitions of the touchpoint table (PostgreSQL): made and kept by the core's
``core:partitions`` job, like every monthly table."""

import datetime as dt

import pytest
from crm_channel_tracking.models import Touchpoint

from crm_core.plugin_api import ensure_months, month_start, months_of
from crm_core.testing import run_cli

PARENT = "channel_tracking_touchpoint"


def add(at):
    Touchpoint.create(
        subject="v:x",
        visitor_id="x",
        event_type="page_view",
        occurred_at=at,
        received_at=at,
        channel_group="direct",
    )


def names(db):
    return {month.name for month in months_of(db, PARENT)}


def test_month_start():
    assert month_start(dt.date(2026, 12, 15), 1) == dt.date(2027, 1, 1)
    assert month_start(dt.date(2026, 1, 31), -2) == dt.date(2025, 11, 1)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_month_made_later_takes_its_rows_from_the_default_partition(db):
    far = dt.datetime(2031, 5, 3, 10, 0)
    add(far)  # no partition yet for May 2031: the row lands in the default partition
    try:
        assert ensure_months(db, PARENT, far.date(), far.date()) == ["channel_tracking_touchpoint_2031_05"]
        assert "channel_tracking_touchpoint_2031_05" in names(db)
        moved = db.execute_sql("SELECT count(*) FROM channel_tracking_touchpoint_2031_05").fetchone()[0]
        assert moved == 1
        assert ensure_months(db, PARENT, far.date(), far.date()) == []
    finally:
        # leave the shared test database as migrated (the fixture's reset does not expect new
        # partitions, whose indexes hang off the parent's)
        db.execute_sql("DROP TABLE IF EXISTS channel_tracking_touchpoint_2031_05")


def test_the_core_partitions_job_keeps_the_touchpoint_months_and_the_plugin_has_none(app, db):
    before = names(db)
    try:
        jobs = run_cli(app, "jobs", "list").output
        assert "channel_tracking:partitions" not in jobs and "core:partitions" in jobs
        result = run_cli(app, "jobs", "run", "core:partitions")
        assert result.exit_code == 0, result.output
        if before:  # PostgreSQL: this month and the next three exist for touchpoints too
            today = dt.date.today()
            wanted = {f"{PARENT}_{month_start(today, k):%Y_%m}" for k in range(4)}
            assert wanted <= names(db)
    finally:
        for name in names(db) - before:
            db.execute_sql(f"DROP TABLE IF EXISTS {name}")
