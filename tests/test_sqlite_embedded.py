"""SQLite as a real embedded default (issue 14): writers never see "database is locked".

With ``crm run`` (web + scheduler) 1,500 sequential ``POST /customers`` got 75 x 503 "database
is locked" at once, without waiting out the busy timeout: a deferred transaction that reads and
then writes fails immediately when another connection (a second request, a scheduler job)
committed in between. Every transaction on SQLite now begins IMMEDIATE.

The soak tests start ``crm init`` + ``crm run`` as subprocesses on a fresh instance folder, the
way ``bench/bench_sqlite_writers.py`` does (its helpers are used here), with a webhook
subscription so the scheduler dispatches events and delivers webhooks beside the load.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_sqlite_writers as soak  # noqa: E402


@pytest.fixture
def sqlite_file(tmp_path):
    """The app's database proxy bound to a fresh SQLite file by ``open_database`` (restored after)."""
    from crm_core.db import database, open_database

    previous = database.obj
    path = tmp_path / "embedded.db"
    db = open_database(f"sqlite:///{path}")
    db.execute_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, n INTEGER)")
    db.execute_sql("INSERT INTO item (id, n) VALUES (1, 0)")
    try:
        yield db, path
    finally:
        db.close()
        if previous is not None:
            database.initialize(previous)


def test_a_transaction_that_reads_then_writes_waits_for_another_writer(sqlite_file):
    """``database.atomic()`` (not only ``write_transaction()``): read, another connection writes,
    then write. Deferred, the write fails at once with "database is locked"; IMMEDIATE, the other
    writer waits its turn and both commit."""
    from crm_core.db import database

    db, path = sqlite_file
    other_error: list[BaseException] = []

    def other_writer():
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            conn.execute("INSERT INTO item (n) VALUES (100)")
        except sqlite3.Error as exc:
            other_error.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=other_writer)
    with database.atomic():
        (n,) = db.execute_sql("SELECT n FROM item WHERE id = 1").fetchone()
        thread.start()
        time.sleep(0.3)  # the other connection commits now, unless our transaction holds the lock
        db.execute_sql("UPDATE item SET n = ? WHERE id = 1", (n + 1,))
    thread.join(15)
    assert not other_error, other_error
    assert db.execute_sql("SELECT n FROM item WHERE id = 1").fetchone() == (1,)
    assert db.execute_sql("SELECT count(*) FROM item").fetchone() == (2,)


def test_a_read_transaction_never_holds_the_write_lock(sqlite_file):
    """``read_transaction()`` (``crm audit verify``, reports) reads a snapshot without the write
    lock: seen, a verifier in a loop of IMMEDIATE transactions starved audited writers past their
    busy timeout ("database is locked"). A writer commits at once while the reader is open, and the
    reader's snapshot does not move."""
    from crm_core.db import read_transaction

    db, path = sqlite_file
    with read_transaction():
        assert db.execute_sql("SELECT count(*) FROM item").fetchone() == (1,)
        conn = sqlite3.connect(path, timeout=0.5, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # would wait out the timeout and fail under the lock
            conn.execute("INSERT INTO item (n) VALUES (7)")
            conn.execute("COMMIT")
        finally:
            conn.close()
        assert db.execute_sql("SELECT count(*) FROM item").fetchone() == (1,)
    assert db.execute_sql("SELECT count(*) FROM item").fetchone() == (2,)


def test_the_load_generator_runs_beside_a_running_event_loop():
    """Seen in CI: with Playwright's sync API active in the same test process (a browser test ran
    first on that worker), the soak's ``asyncio.run`` refused to start ("cannot be called from a
    running event loop"). The load generator runs its loop on a thread of its own. The running
    loop is made here on a fresh thread, so this test does not depend on the worker's state."""
    import asyncio

    answers: list = []

    async def inner():
        await asyncio.sleep(0)
        return "ran"

    async def outer():
        answers.append(soak.run_loop(inner))

    thread = threading.Thread(target=lambda: asyncio.run(outer()))
    thread.start()
    thread.join(10)
    assert answers == ["ran"]


def test_nested_atomic_is_still_a_savepoint(sqlite_file):
    from crm_core.db import database

    db, _ = sqlite_file
    with database.atomic():
        db.execute_sql("UPDATE item SET n = 5 WHERE id = 1")
        with pytest.raises(RuntimeError), database.atomic():
            db.execute_sql("UPDATE item SET n = 6 WHERE id = 1")
            raise RuntimeError
    assert db.execute_sql("SELECT n FROM item WHERE id = 1").fetchone() == (5,)


# ------------------------------------------------------------------ through crm run, under load


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """``crm run`` on a fresh SQLite instance with a webhook receiver subscribed to customer events."""
    instance = tmp_path_factory.mktemp("sqlite-embedded") / "instance"
    server, url, hits = soak.receiver()
    try:
        with soak.crm_run(instance) as (port, log_path):
            soak.subscribe_webhook(port, url)
            yield port, instance, log_path, hits
    finally:
        server.shutdown()


def _query(instance: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{instance / 'crm.db'}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _mark(instance: Path, log_path: Path) -> tuple[int, int]:
    """Where this test starts: (size of crm run's log, last job run id)."""
    return log_path.stat().st_size, _query(instance, "SELECT coalesce(max(id), 0) FROM job_run")[0][0]


def _assert_clean(tally, instance: Path, log_path: Path, mark: tuple[int, int]):
    """No 5xx, no "database is locked", no dropped connection, no 4xx where success was due;
    since ``mark``: no "database is locked" in crm run's log (web and scheduler), no failed job."""
    assert tally.errors == 0, tally.failures
    assert tally.unexpected == 0, tally.failures
    log = log_path.read_bytes()[mark[0] :].decode(errors="replace")
    locked = [line for line in log.splitlines() if "database is locked" in line]
    assert not locked, f"{len(locked)} 'database is locked' lines in crm run's log, e.g. {locked[0]}"
    failed_jobs = _query(
        instance,
        f"SELECT job_id, substr(error, 1, 200) FROM job_run WHERE outcome = 'error' AND id > {mark[1]}",
    )
    assert failed_jobs == []


@pytest.mark.slow
def test_four_writers_beside_the_scheduler_see_no_error(running):
    port, instance, log_path, hits = running
    mark = _mark(instance, log_path)
    tally, seconds = soak.drive(port, clients=4, seconds=15)
    writes = len(tally.latencies["POST customer"]) + len(tally.latencies["PATCH customer"])
    print(
        f"\n{tally.requests} requests in {seconds:.1f} s, {writes} API writes, statuses {dict(tally.statuses)}"
    )
    assert len(tally.latencies["POST customer"]) > 20  # the load did run
    assert len(tally.latencies["web edit"]) > 20
    left, _ = soak.wait_outbox_drained(instance, timeout=60)
    assert left == 0, f"{left} events still pending: the scheduler does not keep up or fails"
    assert len(hits) > 0, "no webhook delivered: the scheduler did not dispatch"
    _assert_clean(tally, instance, log_path, mark)


@pytest.mark.slow
def test_sequential_posts_from_one_client_see_no_error(running):
    port, instance, log_path, _ = running
    mark = _mark(instance, log_path)
    tally, _ = soak.drive_sequential(port, 300)
    assert tally.statuses[201] == 300, (dict(tally.statuses), tally.failures)
    left, _ = soak.wait_outbox_drained(instance, timeout=60)
    assert left == 0
    _assert_clean(tally, instance, log_path, mark)
