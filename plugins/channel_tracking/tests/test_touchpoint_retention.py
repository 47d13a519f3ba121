"""Touchpoints age through the core's retention job (``core:retention``): on PostgreSQL their
wholly older monthly partitions are dropped, the rest deleted row by row."""

import datetime as dt

from crm_channel_tracking.models import Touchpoint

from crm_core.plugin_api import ensure_months, is_postgres, months_of
from crm_core.testing import run_cli


def add(at):
    Touchpoint.create(
        subject="v:x",
        visitor_id="x",
        event_type="page_view",
        occurred_at=at,
        received_at=at,
        channel_group="direct",
    )


def test_touchpoints_older_than_the_retention_months_go_with_their_partitions(app, db):
    # 25 months of 31 days = 775 days: the cutoff of a run at 2024-03-20 is 2022-02-04
    old_month = dt.datetime(2021, 12, 10)
    straddling = [dt.datetime(2022, 2, 1), dt.datetime(2022, 2, 10)]
    try:
        if is_postgres(db):
            ensure_months(db, "channel_tracking_touchpoint", old_month.date(), dt.date(2022, 2, 1))
        for at in (old_month, *straddling):
            add(at)
        status = run_cli(app, "retention", "status", "--at", "2024-03-20T00:00:00")
        line = next(x for x in status.output.splitlines() if x.startswith("channel_tracking.touchpoints"))
        assert line.split()[1:] == ["775", "default", "2"]
        result = run_cli(app, "jobs", "run", "core:retention", "--at", "2024-03-20T00:00:00")
        assert result.exit_code == 0 and "'channel_tracking.touchpoints': 2" in result.output, result.output
        assert [t.occurred_at for t in Touchpoint.select()] == [dt.datetime(2022, 2, 10)]
        if is_postgres(db):
            left = {m.name for m in months_of(db, "channel_tracking_touchpoint")}
            assert "channel_tracking_touchpoint_2021_12" not in left
            assert "channel_tracking_touchpoint_2022_02" in left
    finally:
        if is_postgres(db):
            for name in ("2021_12", "2022_01", "2022_02"):
                db.execute_sql(f"DROP TABLE IF EXISTS channel_tracking_touchpoint_{name}")
