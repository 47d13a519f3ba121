"""Monthly partitions of the touchpoint table on PostgreSQL, and retention on both backends.

The migration creates the months around its run and a DEFAULT partition; the daily job
``channel_tracking:partitions`` creates the months ahead (moving any rows the default partition
already holds for them) and drops whole months older than ``CHANNEL_TRACKING_RETENTION_MONTHS``,
which is instant compared with deleting rows. On SQLite retention is a DELETE.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw

from crm_core.plugin_api import is_postgres, utcnow

PARENT = "channel_tracking_touchpoint"


def month_start(day: dt.date, offset: int = 0) -> dt.date:
    """The first day of the month ``offset`` months after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + offset
    return dt.date(index // 12, index % 12 + 1, 1)


def existing_partitions(db: pw.Database) -> set[str]:
    """Names of the monthly partitions (not the default one)."""
    rows = db.execute_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
        (PARENT,),
    ).fetchall()
    return {name for (name,) in rows if name != f"{PARENT}_default"}


def ensure_partitions(db: pw.Database, first: dt.date, last: dt.date) -> list[str]:
    """Create the monthly partitions covering ``first`` .. ``last`` that are missing; returns the
    names created. No-op on SQLite."""
    if not is_postgres(db):
        return []
    have = existing_partitions(db)
    created = []
    month = month_start(first)
    while month <= last:
        name = f"{PARENT}_{month:%Y_%m}"
        following = month_start(month, 1)
        if name not in have:
            with db.atomic():
                # rows already in the default partition for this month must move, or ATTACH fails
                db.execute_sql(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")
                db.execute_sql(
                    f"WITH moved AS (DELETE FROM {PARENT}_default WHERE occurred_at >= %s AND occurred_at < %s "
                    f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
                    (month, following),
                )
                db.execute_sql(
                    f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{month}') TO ('{following}')"
                )
            created.append(name)
        month = following
    return created


def apply_retention(db: pw.Database, months: int, today: dt.date | None = None) -> int:
    """Remove touchpoints older than ``months`` whole months; returns partitions dropped
    (PostgreSQL) or rows deleted (SQLite)."""
    cutoff = month_start(today or utcnow().date(), -months)
    if not is_postgres(db):
        return db.execute_sql(f"DELETE FROM {PARENT} WHERE occurred_at < ?", (cutoff,)).rowcount
    dropped = 0
    for name in sorted(existing_partitions(db)):
        year, month = name.rsplit("_", 2)[-2:]
        if dt.date(int(year), int(month), 1) < cutoff:
            db.execute_sql(f"DROP TABLE {name}")
            dropped += 1
    db.execute_sql(f"DELETE FROM {PARENT}_default WHERE occurred_at < %s", (cutoff,))
    return dropped


def maintain(db: pw.Database, months_ahead: int = 3, retention_months: int = 25) -> dict:
    """The daily job: partitions for this month and ``months_ahead`` more, then retention."""
    today = utcnow().date()
    created = ensure_partitions(db, month_start(today), month_start(today, months_ahead))
    return {"created": created, "retention": apply_retention(db, retention_months, today)}
