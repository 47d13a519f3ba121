"""The scheduler lock: at most one ``crm scheduler`` runs jobs, however many are started.

PostgreSQL: a session-level advisory lock held on a dedicated connection (released by the server
when that process or connection dies, so a standby takes over). SQLite: an exclusive ``flock`` on
a file in the instance folder (released by the kernel when the process dies). Both are
non-blocking: a scheduler that does not get the lock waits as a standby and tries again.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from ..db import is_postgres

LOCK_NAME = "crm_core.scheduler"


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
        """Take the lock if free; True when this process now holds it."""
        if self.held:
            return True
        if self.postgres:
            return self._acquire_pg()
        return self._acquire_file()

    def _acquire_pg(self) -> bool:
        import psycopg2

        conn = psycopg2.connect(database=self.db.database, **self.db.connect_params)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (_advisory_key(self.name),))
            got = cur.fetchone()[0]
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
            self._conn = None
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
