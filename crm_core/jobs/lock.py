"""The scheduler lock: at most one ``crm scheduler`` runs jobs, however many are started.

PostgreSQL: a session-level advisory lock held on a dedicated connection (released by the server
when that process or connection dies, so a standby takes over). SQLite: an exclusive ``flock`` on
a file in the instance folder (released by the kernel when the process dies). Both are
non-blocking: a scheduler that does not get the lock waits as a standby and tries again.

The lock's PostgreSQL connection is its own (not from the pool), with a connect timeout, TCP
keepalives and a TCP user timeout, so a restarted server or a dead network shows up as a failed
``alive()`` within seconds instead of a hang. Its ``application_name`` names the holder
(``crm scheduler lock (pid N on host)``), visible in ``pg_stat_activity`` next to the lock in
``pg_locks``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
from pathlib import Path

from ..db import is_postgres

LOCK_NAME = "crm_core.scheduler"
CONNECT_TIMEOUT_SECONDS = 5
# libpq connection options of the lock's session: a server or network that went away is noticed
# by the next ``alive()`` (a failed SELECT) or at worst after about 10 s of silence
LOCK_CONNECTION_OPTIONS = {
    "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 10000,
}


def holder_name(pid: int | None = None) -> str:
    """The ``application_name`` of the lock's connection for process ``pid`` (this one)."""
    return f"crm scheduler lock (pid {pid or os.getpid()} on {socket.gethostname()})"[:63]


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class SchedulerLock:
    """``acquire()`` -> bool (non-blocking), ``alive()`` -> still held, ``release()``."""

    def __init__(self, db, instance_path: str, name: str = LOCK_NAME):
        self.db = db
        self.name = name
        self.postgres = is_postgres(db)
        self.path = Path(instance_path) / "scheduler.lock"
        self._conn = None
        self._fh = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fh is not None

    def acquire(self) -> bool:
        """Take the lock if free; True when this process now holds it. Raises the driver's error
        when the database cannot be reached (the caller waits and tries again)."""
        if self.held:
            return True
        if self.postgres:
            return self._acquire_pg()
        return self._acquire_file()

    def _acquire_pg(self) -> bool:
        import psycopg2

        params = {**LOCK_CONNECTION_OPTIONS, "application_name": holder_name(), **self.db.connect_params}
        conn = psycopg2.connect(database=self.db.database, **params)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (_advisory_key(self.name),))
                got = cur.fetchone()[0]
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return bool(got)

    def _acquire_file(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115  held open for the life of the lock
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def alive(self) -> bool:
        """True while the lock is still held (the PostgreSQL session is still up)."""
        if self._fh is not None:
            return True
        if self._conn is None:
            return False
        try:
            with self._conn.cursor() as cur:
                cur.execute("SELECT 1")
            return True
        except Exception:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):  # already broken: nothing left to release
                conn.close()
            return False

    def release(self) -> None:
        """Give the lock up (closing the connection or file releases it)."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
        if self._fh is not None:
            try:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
                self._fh.close()
            finally:
                self._fh = None
