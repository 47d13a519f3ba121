"""Monthly partitions of the touchpoint table on PostgreSQL, and retention on both backends.

The migration creates the months around its run and a DEFAULT partition; the daily job
``channel_tracking:partitions`` creates the months ahead (moving any rows the default partition
already holds for them) and drops whole months older than ``CHANNEL_TRACKING_RETENTION_MONTHS``,
which is instant compared with deleting rows. On SQLite retention is a DELETE.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw

from crm_core.plugin_api import ensure_months, is_postgres, month_start, months_of, utcnow

PARENT = "channel_tracking_touchpoint"


def existing_partitions(db: pw.Database) -> set[str]:
    """Names of the monthly partitions (not the default one)."""
    return {month.name for month in months_of(db, PARENT)}


def ensure_partitions(db: pw.Database, first: dt.date, last: dt.date) -> list[str]:
    """Create the monthly partitions covering ``first`` .. ``last`` that are missing; returns the
    names created. No-op on SQLite. (The core's ``ensure_months``: the same rule for every
    monthly table.)"""
    return ensure_months(db, PARENT, first, last)


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
