"""Fault injection: ``crm scheduler`` survives its PostgreSQL going away (issue 14).

Each test starts its own PostgreSQL cluster (``initdb`` + ``pg_ctl`` into a temporary folder, on a
free loopback port), never the shared test server, and runs real ``crm scheduler`` processes
against it. Checked through what an operator sees: the process is still alive, the lock is held
again (``pg_locks`` + the lock session's ``application_name``), the outbox drains.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CRM = str(Path(sys.executable).parent / "crm")
PG_BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), None)
ADMIN_PASSWORD = "Resil-Passw0rd!"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(cond, timeout: float, step: float = 0.2):
    """The first truthy value of ``cond()`` within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    return None


class Cluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port>, run as ``postgres`` when we are root."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="crm-pgfault-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
        self.pg_ctl("init", "-o", "--username=postgres --auth=trust -E UTF8 --no-sync --no-instructions")

    def pg_ctl(self, *args):
        cmd = [f"{PG_BIN}/pg_ctl", "-D", str(self.data), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # the server inherits pg_ctl's output when no log file is given: never a pipe we wait on
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def start(self):
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=60"
        )
        self.pg_ctl("start", "-w", "-o", opts, "-l", str(self.root / "server.log"))

    def restart(self):
        self.pg_ctl("restart", "-w", "-m", "fast", "-l", str(self.root / "server.log"))

    def stop(self, mode="fast"):
        self.pg_ctl("stop", "-w", "-m", mode)

    def url(self, db="crm") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def query(self, sql: str, db: str = "crm", autocommit=False):
        import psycopg2

        conn = psycopg2.connect(self.url(db), connect_timeout=3)
        conn.autocommit = autocommit
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def destroy(self):
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster():
    if PG_BIN is None or not Path(PG_BIN, "initdb").exists():
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) on this machine")
    c = Cluster()
    try:
        c.start()
        c.query('CREATE DATABASE "crm"', db="postgres", autocommit=True)
        yield c
    finally:
        c.destroy()


@pytest.fixture
def crm_env(cluster, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(
        CRM_DATABASE_URL=cluster.url(),
        CRM_INSTANCE_PATH=str(tmp_path / "instance"),
        CRM_SECRET_KEY="scheduler-fault-test",
        CRM_ADMIN_PASSWORD=ADMIN_PASSWORD,
        CRM_LOG_LEVEL="INFO",
    )
    subprocess.run([CRM, "init"], env=env, check=True, capture_output=True, timeout=180)
    return env


class Schedulers:
    """``crm scheduler`` processes with their logs; all killed at teardown."""

    def __init__(self, env, folder: Path):
        self.env, self.folder, self.procs, self.logs = env, folder, [], []

    def start(self, poll: float = 0.5) -> subprocess.Popen:
        log = (self.folder / f"scheduler-{len(self.procs)}.log").open("w")
        proc = subprocess.Popen(
            [CRM, "scheduler", "--poll", str(poll)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def text(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.folder.glob("scheduler-*.log"))
        )

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        for log in self.logs:
            log.close()


@pytest.fixture
def schedulers(crm_env, tmp_path):
    s = Schedulers(crm_env, tmp_path)
    try:
        yield s
    finally:
        s.close()


def lock_holders(cluster) -> set[int]:
    """Pids of ``crm scheduler`` processes whose lock session holds an advisory lock now."""
    try:
        rows = cluster.query(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted"
        )
    except Exception:  # the server is (re)starting
        return set()
    return {int(m.group(1)) for (name,) in rows for m in [re.search(r"pid (\d+)", name or "")] if m}


def dispatch_runs(cluster, pid: int, after_id: int = 0) -> int:
    """How many event-dispatcher runs process ``pid`` logged (after run ``after_id``)."""
    try:
        return cluster.query(
            f"SELECT count(*) FROM job_run WHERE job_id = 'core.events:dispatch' AND pid = {int(pid)} "
            f"AND id > {int(after_id)}"
        )[0][0]
    except Exception:
        return 0


def last_run_id(cluster) -> int:
    return cluster.query("SELECT coalesce(max(id), 0) FROM job_run")[0][0]


def leads(cluster, pid: int, after_id: int = 0) -> bool:
    """``pid`` is the scheduler: its lock session holds the lock, or it runs the jobs."""
    return pid in lock_holders(cluster) or dispatch_runs(cluster, pid, after_id) > 0


def pending(cluster) -> int | None:
    try:
        return cluster.query("SELECT count(*) FROM event_outbox WHERE status <> 'done'")[0][0]
    except Exception:
        return None


class Loader(threading.Thread):
    """Creates customers through the HTTP API (the test client of an app on the cluster) without
    pause, counting the acknowledged (201) writes; errors while the server is down are expected."""

    def __init__(self, env):
        super().__init__(daemon=True)
        from crm_core.app import create_app

        self.app = create_app(
            {
                "DATABASE_URL": env["CRM_DATABASE_URL"],
                "INSTANCE_PATH": env["CRM_INSTANCE_PATH"],
                "SECRET_KEY": env["CRM_SECRET_KEY"],
                "RATELIMIT_ENABLED": False,
            }
        )
        self.client = self.app.test_client()
        r = self.client.post("/api/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.get_data(as_text=True)
        self.headers = {"Authorization": f"Bearer {r.get_json()['access_token']}"}
        self.acked: list[int] = []
        self.failed = 0
        self.halt = threading.Event()

    def run(self):
        n = 0
        while not self.halt.is_set():
            n += 1
            try:
                r = self.client.post("/api/v1/customers", json={"name": f"load {n}"}, headers=self.headers)
                if r.status_code == 201:
                    self.acked.append(r.get_json()["id"])
                else:
                    self.failed += 1
                    time.sleep(0.1)
            except Exception:
                self.failed += 1
                time.sleep(0.1)

    def stop(self):
        self.halt.set()
        self.join(30)
        self.app.extensions["crm"].db.close_all()


def test_scheduler_survives_postgres_restarts_and_the_outbox_drains(cluster, crm_env, schedulers):
    proc = schedulers.start()
    assert _wait(lambda: dispatch_runs(cluster, proc.pid), 90), schedulers.text()
    loader = Loader(crm_env)
    loader.start()
    try:
        assert _wait(lambda: len(loader.acked) >= 10, 60), "no writes acknowledged before the restart"
        # 1: a fast restart under load (every session, the lock's too, is terminated)
        before = last_run_id(cluster)
        restarted = time.monotonic()
        cluster.restart()
        # the lock is checked every few seconds: wait for it to be retaken, or for the process to end
        _wait(lambda: proc.poll() is not None or proc.pid in lock_holders(cluster), 60)
        relocked = time.monotonic() - restarted
        assert proc.poll() is None, f"scheduler exited with {proc.returncode}:\n{schedulers.text()}"
        assert proc.pid in lock_holders(cluster), (
            "the scheduler did not retake its lock:\n" + schedulers.text()
        )
        assert _wait(lambda: dispatch_runs(cluster, proc.pid, before), 30), "no jobs after the restart"
        # 2: an outage of a few seconds: the scheduler waits, it does not exit
        cluster.stop()
        time.sleep(4)
        assert proc.poll() is None, f"scheduler exited with {proc.returncode}:\n{schedulers.text()}"
        down = time.monotonic()
        cluster.start()
        assert _wait(lambda: proc.pid in lock_holders(cluster), 60), schedulers.text()
        relocked_after_outage = time.monotonic() - down
        acked_before = len(loader.acked)
        assert _wait(lambda: len(loader.acked) >= acked_before + 10, 60), "writes did not resume"
    finally:
        loader.stop()
    drained_from = time.monotonic()
    assert _wait(lambda: pending(cluster) == 0, 90, step=0.5), (
        f"{pending(cluster)} events still pending:\n{schedulers.text()}"
    )
    drained = time.monotonic() - drained_from
    assert proc.poll() is None
    # every acknowledged write is there, and was dispatched
    ids = ",".join(str(i) for i in loader.acked)
    assert cluster.query(f"SELECT count(*) FROM customer WHERE id IN ({ids})")[0][0] == len(loader.acked)
    done = cluster.query(
        f"SELECT count(DISTINCT record_id) FROM event_outbox WHERE type = 'customer.created' "
        f"AND status = 'done' AND record_id IN ({','.join(repr(str(i)) for i in loader.acked)})"
    )[0][0]
    assert done == len(loader.acked)
    log = schedulers.text()
    assert "lost its lock" in log and "stopping" not in log
    print(
        f"\nrelock after restart {relocked:.1f} s, after a 4 s outage {relocked_after_outage:.1f} s, "
        f"outbox drained {drained:.1f} s after the load stopped; {len(loader.acked)} writes "
        f"acknowledged, {loader.failed} refused while the server was away"
    )


def test_standby_takes_over_when_the_leader_is_killed(cluster, crm_env, schedulers):
    first, second = schedulers.start(), schedulers.start()
    pids = {first.pid, second.pid}
    assert _wait(lambda: any(dispatch_runs(cluster, pid) for pid in pids), 90), schedulers.text()
    time.sleep(2)
    leaders = {pid for pid in pids if dispatch_runs(cluster, pid)}
    assert len(leaders) == 1, schedulers.text()  # only one runs jobs
    leader = first if first.pid in leaders else second
    standby = second if leader is first else first
    assert standby.poll() is None
    before = last_run_id(cluster)
    killed = time.monotonic()
    os.kill(leader.pid, signal.SIGKILL)
    assert _wait(lambda: leads(cluster, standby.pid, before), 20, step=0.1), schedulers.text()
    took = time.monotonic() - killed
    assert took < 10, f"take-over took {took:.1f} s"
    # the new leader runs the jobs: an event written now is dispatched
    subprocess.run(
        [CRM, "create-user", "after_failover", "--password", ADMIN_PASSWORD],
        env=crm_env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert _wait(lambda: pending(cluster) == 0, 60, step=0.5), schedulers.text()
    print(f"\nstandby took over {took:.2f} s after SIGKILL of the leader")
