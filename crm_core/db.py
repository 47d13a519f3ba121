"""The database: a peewee proxy bound at app creation (the current app's), and the base models.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is chosen by URL. Models never
bind to a concrete database, so tests and the CLI can point the same models at either.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import urlparse

import peewee as pw
from flask import current_app, has_app_context
from playhouse.db_url import connect, parseresult_to_dict

from .pgpool import POOL_SIZE, POOL_STALE_SECONDS, POOL_WAIT_SECONDS, PooledPostgres


class AppDatabase(pw.DatabaseProxy):
    """The models' database: the current Flask app's, else the one bound last.

    Each app binds its database when it is created (``open_database``). Inside an app context
    the proxy answers with that app's database, so two apps in one process (a test session's
    live servers, an app embedded beside another) never read or write each other's tables;
    outside any app context (scripts, threads of their own) it is the database bound last.
    """

    __slots__ = ("_bound",)
    _SETTABLE = frozenset({"obj", "_bound", "_callbacks", "_Model"})

    def __setattr__(self, attr, value):
        if attr not in self._SETTABLE:
            raise AttributeError("Cannot set attribute on proxy.")
        object.__setattr__(self, attr, value)

    @property
    def obj(self):
        if has_app_context():
            crm = current_app.extensions.get("crm")
            if crm is not None and crm.db is not None:
                # inside ``reading_replica()``: the replica (read-only, may lag)
                return _READ_FROM.get() or crm.db
        return self._bound

    @obj.setter
    def obj(self, value):
        self._bound = value


database = AppDatabase()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "normal",
}
# how SQLite transactions begin (peewee's ``lock_type``): see ``open_database``
SQLITE_LOCK_TYPE = "IMMEDIATE"


def utcnow() -> dt.datetime:
    """The current time in UTC, naive (stored as UTC everywhere)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def default_url(instance_path: str) -> str:
    """The embedded default: a SQLite file ``crm.db`` in the instance folder."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(instance_path) / 'crm.db'}"


def open_database(url: str) -> pw.Database:
    """Connect ``database`` (the proxy) to ``url`` and return the concrete database.

    PostgreSQL connections are pooled per process (a new connection costs several milliseconds
    per request); ``postgresql+pool://`` URLs are taken as given.
    """
    db = connect_url(url)
    database.initialize(db)
    return db


def connect_url(url: str) -> pw.Database:
    """The concrete database of ``url``, set up as :func:`open_database` does, without binding it."""
    if url.startswith("sqlite"):
        # every outermost transaction (``database.atomic()`` as much as ``write_transaction()``)
        # begins IMMEDIATE: a deferred one that reads, then writes after another connection
        # committed fails at once with "database is locked", whatever the busy timeout
        db = connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False, lock_type=SQLITE_LOCK_TYPE)
    elif url.split("://", 1)[0] in ("postgres", "postgresql"):
        # threads beyond the pool wait (up to POOL_WAIT_SECONDS) instead of failing
        db = PooledPostgres(
            None, max_connections=POOL_SIZE, stale_timeout=POOL_STALE_SECONDS, timeout=POOL_WAIT_SECONDS
        )
        db.init(**_pg_connect_kwargs(url))
    else:
        db = connect(url)
    return db


def _pg_connect_kwargs(url: str) -> dict:
    """``url`` as peewee's ``db_url`` parses it for PostgreSQL (database, user, host, options)."""
    return parseresult_to_dict(urlparse(url))


#: the slow-query log (``SLOW_QUERY_MS``): statement text and duration, never the values
slow_log = logging.getLogger("crm_core.sql.slow")
SLOW_STATEMENT_CHARS = 2000


def log_slow_queries(db: pw.Database, threshold_ms: int) -> None:
    """Log every statement ``db`` runs that takes ``threshold_ms`` or longer (0: none) with its
    duration and its SQL text, without the parameter values (they hold personal data).

    Wraps ``db.execute_sql``, the one method every peewee query goes through."""
    if threshold_ms <= 0:
        return
    inner = db.execute_sql

    def execute_sql(sql, params=None):
        start = time.perf_counter()
        try:
            return inner(sql, params)
        finally:
            ms = (time.perf_counter() - start) * 1000
            if ms >= threshold_ms:
                text = " ".join(str(sql).split())[:SLOW_STATEMENT_CHARS]
                slow_log.warning(
                    "slow query %.1f ms: %s", ms, text, extra={"duration_ms": round(ms, 1), "statement": text}
                )

    db.execute_sql = execute_sql


def is_postgres(db: pw.Database | None = None) -> bool:
    """True when the bound database (or ``db``, a database or a proxy) is PostgreSQL."""
    db = db or database
    if isinstance(db, pw.DatabaseProxy):
        db = db.obj
    return isinstance(db, pw.PostgresqlDatabase)


# --- read replica (``DATABASE_REPLICA_URL``) -------------------------------------------------
#: the database ``database`` answers with inside ``reading_replica()`` (per thread and context)
_READ_FROM: ContextVar[pw.Database | None] = ContextVar("crm_read_from", default=None)
REPLICA_CHECK_SECONDS = 5  # a replica found usable is asked again about its lag after this
REPLICA_RETRY_SECONDS = 30  # one found down or lagging is left alone this long
replica_log = logging.getLogger("crm_core.replica")
# lag 0 when everything received is replayed (an idle primary sends nothing to replay)
_LAG_SQL = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
    "THEN 0 ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


def _replica_state() -> dict | None:
    """The current app's replica (opened on first use) and what is known of its health."""
    url = current_app.config.get("DATABASE_REPLICA_URL") or ""
    if not url:
        return None
    state = current_app.extensions.setdefault("crm_replica", {})
    if state.get("url") != url:
        db = connect_url(url)
        log_slow_queries(db, int(current_app.config.get("SLOW_QUERY_MS") or 0))
        state.clear()
        state.update(url=url, db=db, ok=False, checked_at=None)
    return state


def _mark(state: dict, ok: bool, why: str = "") -> None:
    if (state["ok"] or state["checked_at"] is None) and not ok:
        replica_log.warning("read replica not used for %s s: %s", REPLICA_RETRY_SECONDS, why)
    state.update(ok=ok, checked_at=time.monotonic())


def replica_lag(db: pw.Database) -> float:
    """Seconds the standby ``db`` is behind its primary (0 when it has replayed all it received)."""
    return float(db.execute_sql(_LAG_SQL).fetchone()[0])


def _usable_replica() -> pw.Database | None:
    state = _replica_state()
    if state is None:
        return None
    checked = state["checked_at"]
    wait = REPLICA_CHECK_SECONDS if state["ok"] else REPLICA_RETRY_SECONDS
    if checked is None or time.monotonic() - checked >= wait:
        db, limit = state["db"], float(current_app.config.get("DATABASE_REPLICA_MAX_LAG_SECONDS") or 0)
        was_closed = db.is_closed()
        try:
            lag = replica_lag(db)
        except Exception as exc:  # whatever stops the replica from answering: read the primary
            _mark(state, False, f"unreachable ({type(exc).__name__}: {str(exc).strip()[:200]})")
            db.close()
        else:
            _mark(state, not limit or lag <= limit, f"{lag:.1f} s behind (limit {limit:g} s)")
            if was_closed:
                db.close()  # back to the pool: the block opens its own
    return state["db"] if state["ok"] else None


def replica_health() -> dict | None:
    """The read replica as ``/health/ready`` reports it: ``{"status": "ok", "lag_seconds"}``, or
    ``"degraded"`` with a reason when it does not answer or lags past
    ``DATABASE_REPLICA_MAX_LAG_SECONDS`` (reads then fall back to the primary, so the instance
    still serves); None when no replica is set. Asks the replica now; the reason never carries a
    URL or an error text (the probe is public), the log has the error."""
    state = _replica_state()
    if state is None:
        return None
    db, limit = state["db"], float(current_app.config.get("DATABASE_REPLICA_MAX_LAG_SECONDS") or 0)
    was_closed = db.is_closed()
    try:
        lag = replica_lag(db)
    except Exception as exc:  # whatever stops it answering: the primary serves its reads
        replica_log.warning(
            "ready: read replica unreachable: %s: %s", type(exc).__name__, str(exc).strip()[:200]
        )
        db.close()
        return {"status": "degraded", "reason": "replica unreachable: reads on the primary"}
    if was_closed:
        db.close()
    if limit and lag > limit:
        return {
            "status": "degraded",
            "lag_seconds": round(lag, 1),
            "reason": "replica lagging: reads on the primary",
        }
    return {"status": "ok", "lag_seconds": round(lag, 1)}


def on_primary(func):
    """``func`` with its queries on the primary even when called inside :func:`reading_replica`
    (a task's progress, written while its export reads the replica); None stays None."""
    if func is None:
        return None

    def call(*args, **kwargs):
        token = _READ_FROM.set(None)
        try:
            return func(*args, **kwargs)
        finally:
            _READ_FROM.reset(token)

    return call


@contextmanager
def reading_replica():
    """Run the block's queries on the read replica (``DATABASE_REPLICA_URL``); yields the
    database they run on.

    For reads that tolerate a few seconds of lag (dashboards, reports, exports), never for a
    write: the replica is read-only. The primary serves the block when no replica is set, when it
    does not answer or lags more than ``DATABASE_REPLICA_MAX_LAG_SECONDS`` (then it is asked again
    after ``REPLICA_RETRY_SECONDS``), and inside a transaction already open on the primary (the
    caller reads its own writes). A replica that fails inside the block is not used again for a
    while; the block's error is raised as it is."""
    primary = current_app.extensions["crm"].db if has_app_context() else None
    if primary is None or _READ_FROM.get() is not None or primary.in_transaction():
        yield database.obj
        return
    replica = _usable_replica()
    if replica is None:
        yield primary
        return
    was_closed = replica.is_closed()
    token = _READ_FROM.set(replica)
    try:
        yield replica
    except (pw.OperationalError, pw.InterfaceError) as exc:
        _mark(_replica_state(), False, f"failed inside a block ({type(exc).__name__})")
        raise
    finally:
        _READ_FROM.reset(token)
        if was_closed and not replica.is_closed():
            replica.close()  # its connection back to the pool


def write_transaction():
    """The transaction of a write: ``database.atomic()``, named so where the write is.

    On SQLite the outermost one begins IMMEDIATE, as every transaction of a database opened by
    :func:`open_database` does (``lock_type``): a deferred SQLite transaction that reads and then
    writes fails at once with "database is locked" when another writer committed in between (WAL
    cannot upgrade a stale snapshot, and the busy timeout is not consulted); IMMEDIATE takes the
    write lock at BEGIN, waiting up to ``busy_timeout`` for it, so concurrent writers serialise
    instead. Nested, it is a savepoint of the transaction already open. On PostgreSQL, read what
    the write depends on with a row lock (``SELECT ... FOR UPDATE``, e.g.
    ``permissions.get_record(..., lock=True)``) inside it.
    """
    return database.atomic()


@contextmanager
def read_transaction():
    """A transaction that only reads one consistent snapshot (reports, ``crm audit verify``).

    On SQLite the outermost one begins DEFERRED, a WAL read snapshot that takes no write lock:
    every other transaction begins IMMEDIATE (see :func:`open_database`), and a reader holding the
    write lock in a loop would starve the writers past their busy timeout. On PostgreSQL it is a
    REPEATABLE READ transaction. Nested, it is a savepoint of the transaction already open.
    """
    if database.transaction_depth() > 0:
        with database.atomic():
            yield
    elif is_postgres():
        with database.atomic():
            database.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield
    else:
        with database.atomic(lock_type="DEFERRED"):
            yield


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
