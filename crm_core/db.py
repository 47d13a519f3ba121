"""The database: one peewee ``DatabaseProxy`` bound at app creation, and the base models.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is chosen by URL. Models never
bind to a concrete database, so tests and the CLI can point the same models at either.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import peewee as pw
from playhouse.db_url import connect

database = pw.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "normal",
}


def utcnow() -> dt.datetime:
    """The current time in UTC, naive (stored as UTC everywhere)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def default_url(instance_path: str) -> str:
    """The embedded default: a SQLite file ``crm.db`` in the instance folder."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(instance_path) / 'crm.db'}"


POOL_SIZE = 20
POOL_STALE_SECONDS = 300
POOL_WAIT_SECONDS = 10


def open_database(url: str) -> pw.Database:
    """Connect ``database`` (the proxy) to ``url`` and return the concrete database.

    PostgreSQL connections are pooled per process (a new connection costs several milliseconds
    per request); ``postgresql+pool://`` URLs are taken as given.
    """
    if url.startswith("sqlite"):
        db = connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
    elif url.split("://", 1)[0] in ("postgres", "postgresql"):
        pooled = "postgresql+pool://" + url.split("://", 1)[1]
        # threads beyond the pool wait (up to POOL_WAIT_SECONDS) instead of failing
        db = connect(
            pooled, max_connections=POOL_SIZE, stale_timeout=POOL_STALE_SECONDS, timeout=POOL_WAIT_SECONDS
        )
    else:
        db = connect(url)
    database.initialize(db)
    return db


def is_postgres(db: pw.Database | None = None) -> bool:
    """True when the bound database is PostgreSQL."""
    db = db or database.obj
    return isinstance(db, pw.PostgresqlDatabase)


class BaseModel(pw.Model):
    """Base of every model: an integer id and UTC timestamps."""

    id = pw.AutoField()
    created_at = pw.DateTimeField(default=utcnow, index=True)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = database
        legacy_table_names = False

    def save(self, *args, **kwargs):
        """Save, stamping ``updated_at``."""
        if self._pk is not None:
            self.updated_at = utcnow()
        return super().save(*args, **kwargs)


class RecordModel(BaseModel):
    """Base of business records: ownership for row scopes and a ``custom`` JSON of custom fields."""

    owner_id = pw.IntegerField(null=True, index=True)
    department_id = pw.IntegerField(null=True, index=True)
    custom = pw.JSONField(default=dict)
