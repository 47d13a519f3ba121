"""SQLite backups through SQLite's online backup API (``sqlite3.Connection.backup``).

One backup step copies every page inside one read transaction: the copy is the database as of
one moment, while the app goes on writing (WAL readers never block writers). The copy is turned
into a single self-contained file (rollback journal, not WAL) and checked before it is kept.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import peewee as pw

from ..db import SQLITE_PRAGMAS
from .manifest import BackupError
from .snapshot import facts

BUSY_MS = SQLITE_PRAGMAS["busy_timeout"]


def _file_of(db: pw.SqliteDatabase) -> str:
    path = db.database
    if not path or path == ":memory:" or str(path).startswith("file::memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return str(path)


def _check(conn: sqlite3.Connection, what: str) -> None:
    result = conn.execute("PRAGMA integrity_check").fetchall()
    if result != [("ok",)]:
        problems = "; ".join(row[0] for row in result[:5])
        raise BackupError(f"{what} failed SQLite's integrity check: {problems}")


def dump(db: pw.SqliteDatabase, target: Path) -> dict:
    """Copy the database to the file ``target``; returns the copy's :func:`facts`."""
    source = sqlite3.connect(_file_of(db), timeout=BUSY_MS / 1000)
    copy = sqlite3.connect(str(target))
    try:
        source.backup(copy)  # pages=-1: one step, so one read snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        _check(copy, "the backup copy")
        return facts(copy.cursor(), "sqlite")
    finally:
        copy.close()
        source.close()


def load(db: pw.SqliteDatabase, source_file: Path) -> None:
    """Replace every page of the database with the copy ``source_file`` (the same backup API the
    other way round: the file is written in place, in one step, under SQLite's own locks, so
    connections the app still has see the restored database, never a torn one)."""
    source = sqlite3.connect(str(source_file))
    try:
        _check(source, "the database in the backup (nothing was changed)")
        if not db.is_closed():
            db.close()
        live = sqlite3.connect(_file_of(db), timeout=BUSY_MS / 1000)
        try:
            source.backup(live)
            _check(live, "the restored database")
        finally:
            live.close()
    except sqlite3.DatabaseError as exc:
        # the copy runs in one write transaction of the live file: a failure rolls it back
        raise BackupError(f"restoring the SQLite database failed, nothing was changed: {exc}") from None
    finally:
        source.close()
