"""The PostgreSQL connection pool: no round trip per checkout, and savepoints that travel with
the next statement."""

from __future__ import annotations

import logging

import peewee as pw
from playhouse.pool import PooledPostgresqlDatabase
from psycopg2.extensions import TRANSACTION_STATUS_UNKNOWN

POOL_SIZE = 20
POOL_STALE_SECONDS = 300
POOL_WAIT_SECONDS = 10


#: peewee's savepoint commands (``_savepoint``): their prefix, and what each does
_SAVEPOINT_COMMANDS = (
    ("SAVEPOINT ", "open"),
    ("RELEASE SAVEPOINT ", "release"),
    ("ROLLBACK TO SAVEPOINT ", "rollback"),
)


#: what waits in ``pending`` that is not a deferred write
_CONTROL = ("BEGIN", "SAVEPOINT ", "RELEASE SAVEPOINT ")
#: peewee's mapping of driver errors to its own (IntegrityError...), for what is sent here
_peewee_errors = pw.__exception_wrapper__


class ExpectationFailed(Exception):
    """A check queued with :meth:`PooledPostgres.expect` failed: the statement it travelled with
    did not run (nor, in a transaction, anything after it)."""


class PooledPostgres(PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool without a round trip per checkout: reconnects on failure instead.

    peewee asks every pooled connection ``SELECT 1`` before handing it out (a round trip, on every
    request). Here a checkout only looks at what the driver knows locally (closed, or in an
    unknown transaction state); when the server has dropped the connection since (a restart, a
    failover, an idle timeout, ``pg_terminate_backend``), the first statement of the checkout or
    its ``BEGIN`` fails with the connection closed, and is sent once more on a new connection.
    A connection lost later in a checkout is not retried (the statement may have run): the error
    is raised and the connection left out of the pool.
    """

    def _is_closed(self, conn):
        return bool(conn.closed) or conn.get_transaction_status() == TRANSACTION_STATUS_UNKNOWN

    def connect(self, reuse_if_open=False):
        opened = super().connect(reuse_if_open)
        if opened:
            self._state.retry_once = True
        return opened

    def _first_use(self) -> bool:
        """True for the first statement of this checkout (the one that may be retried)."""
        if self.is_closed():
            self.connect()
        first = getattr(self._state, "retry_once", False)
        self._state.retry_once = False
        return first

    def _lost(self) -> bool:
        conn = self._state.conn
        return conn is None or bool(conn.closed)

    def _reconnect(self, exc: Exception) -> None:
        logging.getLogger("crm_core.db.pool").warning(
            "database connection lost (%s): reconnecting", str(exc).strip().splitlines()[0][:200]
        )
        self.close()  # the pool drops it: its transaction status is unknown
        self.connect()
        self._state.retry_once = False

    # --- BEGIN, savepoints and deferred writes travel with the next statement ----------------
    # A transaction's BEGIN, a nested ``atomic()``'s SAVEPOINT and RELEASE (every write inside
    # another's transaction) and the writes whose answer nobody reads (``defer``: the audit entry
    # and the outbox event of a write) are each a round trip on their own. Here they wait in
    # ``_state.pending``, in order, and go out in front of the next statement or with the COMMIT,
    # in the same round trip; a savepoint rolled back before anything was sent is never sent
    # (nor what waited under it), nor a transaction in which nothing ran. Anything that takes the
    # driver's cursor or connection directly gets what waits sent first.

    def _pending(self) -> list:
        pending = getattr(self._state, "pending", None)
        if pending is None:
            pending = self._state.pending = []
        return pending

    def defer(self, sql: str) -> None:
        """Send ``sql`` (complete: values rendered, no parameters) with this transaction's next
        statement or its COMMIT; outside a transaction, now. What it returns is never read, and
        an error it raises surfaces with the statement it travels with (the transaction fails)."""
        if self.transaction_depth() > 0:
            self._pending().append(sql)
        else:
            self.execute_sql(sql.replace("%", "%%"))

    def render(self, sql: str, params) -> str:
        """``sql`` with ``params`` rendered by the driver, as it would send them; sends nothing
        (what waits stays waiting)."""
        if self.is_closed():
            self.connect()
        with self._state.conn.cursor() as cursor:
            return cursor.mogrify(sql, params).decode()

    def _defer_savepoint(self, sql: str) -> bool:
        """Queue or cancel a savepoint command of peewee's ``_savepoint``; False for any other SQL."""
        found = [(p, v) for p, v in _SAVEPOINT_COMMANDS if sql.startswith(p)]
        if not found:
            return False
        prefix, verb = found[0]
        name = sql[len(prefix) :].rstrip("; ")
        pending = self._pending()
        opened = f"SAVEPOINT {name}"
        if verb == "open":
            pending.append(opened)
        elif opened in pending and verb == "release":
            # never sent, now released: what waits after it stays, without it (savepoints
            # inside it were released or rolled back already)
            pending.remove(opened)
        elif opened in pending:  # rolled back before anything under it was sent: none of it is
            del pending[pending.index(opened) :]
        elif verb == "release":
            pending.append(f"RELEASE SAVEPOINT {name}")
        else:
            pending.clear()  # (all of it inside this savepoint: its rollback undoes it anyway)
            super().execute_sql(f"ROLLBACK TO SAVEPOINT {name}")
        return True

    # --- a check that travels with the next statement --------------------------------------
    # A request that answers from values cached in this worker (``crm_core.stamps.assume``)
    # still has to know they were current. The check that says so goes in front of the
    # request's first statement, in its round trip, and fails that statement when they were not.

    def expect(self, sql: str, marker: str) -> None:
        """Send the check ``sql`` (complete: values rendered) in front of the next statement, in a
        transaction or not; it fails with an error whose text holds ``marker`` when what it checks
        is no longer so, and that statement then raises :class:`ExpectationFailed` instead of
        running. :meth:`confirm` sends it alone when no statement came; :meth:`failed_expectation`
        tells afterwards whether one failed (even where the caller swallowed the error)."""
        self._state.expected = (sql, marker)
        self._state.expectation_failed = False

    def confirm(self) -> None:
        """Send a check :meth:`expect` queued that no statement has carried yet (raises
        :class:`ExpectationFailed` when it fails); nothing when none waits."""
        if getattr(self._state, "expected", None) is not None:
            self.execute_sql("SELECT 1")

    def failed_expectation(self, clear: bool = True) -> bool:
        """True when the check of the last :meth:`expect` failed; reading it clears it, unless
        ``clear`` is false."""
        failed = getattr(self._state, "expectation_failed", False)
        if clear:
            self._state.expectation_failed = False
        return failed

    def _send(self, sql, params, before: list[str] = ()):
        """``super().execute_sql`` of ``sql`` after the statements ``before`` (complete, '%' not yet
        doubled) and the check :meth:`expect` queued, in one round trip."""
        expected = getattr(self._state, "expected", None)
        self._state.expected = None
        check = [expected[0]] if expected is not None else []
        if before or check:
            # '%' doubled: peewee hands the driver a parameter tuple, even an empty one
            sql = "; ".join([*(item.replace("%", "%%") for item in [*before, *check]), sql])
        if expected is None:
            return super().execute_sql(sql, params)
        try:
            return super().execute_sql(sql, params)
        except pw.DatabaseError as exc:
            self._failed(expected[1], exc)
            raise

    def _failed(self, marker: str, exc: Exception) -> None:
        """Raise :class:`ExpectationFailed` when ``exc`` is the failed check's error."""
        if marker in str(exc):
            self._state.expectation_failed = True
            raise ExpectationFailed(marker) from exc

    def _flush_pending(self) -> None:
        if getattr(self._state, "expected", None) is not None and self._state.conn is not None:
            self._send("SELECT 1", None)  # a direct driver user: the check goes first, alone
        pending = getattr(self._state, "pending", None)
        if pending and self._state.conn is not None:
            text = "; ".join(pending)
            pending.clear()
            with _peewee_errors, self._state.conn.cursor() as cursor:
                cursor.execute(text)

    def cursor(self, *args, **kwargs):
        self._flush_pending()
        return super().cursor(*args, **kwargs)

    def connection(self):
        self._flush_pending()
        return super().connection()

    def close(self):
        self._pending().clear()  # (a connection closed mid-transaction: nothing is owed)
        self._state.expected = None
        return super().close()

    def commit(self):
        pending = self._pending()
        if any(not item.startswith(_CONTROL) for item in pending):  # deferred writes: with it
            expected = getattr(self._state, "expected", None)
            self._state.expected = None
            check = [expected[0]] if expected is not None else []
            text = "; ".join([*pending, *check, "COMMIT"])
            pending.clear()
            try:
                with _peewee_errors, self._state.conn.cursor() as cursor:
                    cursor.execute(text)
            except pw.DatabaseError as exc:
                if expected is not None:
                    self._failed(expected[1], exc)
                raise
            return None
        unsent = bool(pending) and pending[0] == "BEGIN"
        pending.clear()  # the commit ends every savepoint
        return None if unsent else super().commit()  # (no statement ran: nothing to commit)

    def rollback(self):
        pending = self._pending()
        unsent = bool(pending) and pending[0] == "BEGIN"
        pending.clear()
        return None if unsent else super().rollback()

    def execute_sql(self, sql, params=None):
        if self.transaction_depth() > 0:
            if not params and self._defer_savepoint(sql):
                return None
            pending = self._pending()
            before = list(pending)
            pending.clear()
            return self._send(sql, params, before)
        if not self._first_use():
            return self._send(sql, params)
        expected = getattr(self._state, "expected", None)
        try:
            return self._send(sql, params)
        except (pw.OperationalError, pw.InterfaceError) as exc:
            if not self._lost():
                raise
            self._reconnect(exc)
            self._state.expected = expected  # (the check goes with the statement sent again)
            return self._send(sql, params)

    def begin(self, isolation_level=None):
        # on a connection already used in this checkout the BEGIN waits for the transaction's
        # first statement; the checkout's first use sends it at once, where a dropped connection
        # can still be replaced (not inside a transaction)
        fresh = self.is_closed() or getattr(self._state, "retry_once", False)
        if not fresh and not isolation_level and not self._isolation_level:
            self._pending()[:] = ["BEGIN"]
            return None
        if not self._first_use():
            return self._begin_now(isolation_level)
        expected = getattr(self._state, "expected", None)
        try:
            return self._begin_now(isolation_level)
        except (pw.OperationalError, pw.InterfaceError) as exc:
            if not self._lost():
                raise
            self._reconnect(exc)
            self._state.expected = expected  # (the check goes with the BEGIN sent again)
            return self._begin_now(isolation_level)

    def _begin_now(self, isolation_level=None):
        """peewee's BEGIN, sent now; a check :meth:`expect` queued goes in front of it."""
        if getattr(self._state, "expected", None) is None or isolation_level or self._isolation_level:
            return super().begin(isolation_level)
        self._send("BEGIN", None)
        return None
