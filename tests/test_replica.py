"""``DATABASE_REPLICA_URL`` against a real PostgreSQL streaming replica started by the test: a
primary cluster of its own (``initdb``) and a standby made from it with ``pg_basebackup -R``,
both on free ports of 127.0.0.1, run as the ``postgres`` user.

The standby's replay is paused to tell the two apart: the dashboard and exports then show the
replica's older rows, writes and reads of one's own records stay on the primary, a standby lagging
more than ``DATABASE_REPLICA_MAX_LAG_SECONDS`` or stopped is passed over for the primary.

(The machine's own server on 127.0.0.1:5432 allows no replication connections: its pg_hba.conf has
no ``replication`` line, so the standby cannot be made from it without editing its config.)
"""

from __future__ import annotations

import csv
import glob
import io
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest

from crm_core import db as crm_db
from crm_core.app import create_app
from crm_core.browser_testing import web_login
from crm_core.db import database, reading_replica
from crm_core.migrate import migrate
from crm_core.testing import TEST_PASSWORD, follow_task, requests_in_their_own_context, user_with_token

pytestmark = pytest.mark.slow

BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
BIN = Path(BINS[-1]) if BINS else None
TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
MISSING = [t for t in TOOLS if BIN is None or not (BIN / t).exists()]
if not MISSING and os.geteuid() == 0:
    # PostgreSQL refuses to run as root: the clusters run as the postgres user
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        MISSING = ["a postgres user to run the server as"]
    if shutil.which("runuser") is None:
        MISSING = ["runuser (to run the server as the postgres user)"]


def as_server_user(*command, **kwargs):
    """Run a server tool: as ``postgres`` when the tests run as root (PostgreSQL refuses root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        prefix + [str(c) for c in command], check=True, capture_output=True, text=True, **kwargs
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Clusters:
    """A primary and its streaming standby in a temporary folder."""

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="crm-replica-"))
        self.base.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self.primary, self.standby = self.base / "primary", self.base / "standby"
        self.primary_port, self.standby_port = free_port(), free_port()
        self.started = []

    def url(self, port: int, name: str = "crm") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{name}"

    def start(self, data: Path) -> None:
        as_server_user(
            BIN / "pg_ctl", "-D", data, "-l", self.base / f"{data.name}.log", "-w", "-t", "60", "start"
        )
        self.started.append(data)

    def stop(self, data: Path) -> None:
        as_server_user(BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        self.started.remove(data)

    def up(self) -> None:
        as_server_user(
            BIN / "initdb", "-D", self.primary, "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync"
        )
        settings = [
            f"port = {self.primary_port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.base}'",
            "wal_level = replica",
            "max_wal_senders = 4",
            "hot_standby = on",
            "fsync = off",  # a throwaway cluster: speed over durability
        ]
        with open(self.primary / "postgresql.conf", "a") as conf:
            conf.write("\n" + "\n".join(settings) + "\n")
        self.start(self.primary)
        self.sql(self.primary_port, "CREATE DATABASE crm", dbname="postgres")
        # the standby: a base backup streamed from the primary, -R writes standby.signal and
        # primary_conninfo, so it starts as a hot standby following the primary
        as_server_user(
            BIN / "pg_basebackup",
            "-h", "127.0.0.1", "-p", self.primary_port, "-U", "postgres",
            "-D", self.standby, "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        with open(self.standby / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.standby_port}\n")
        self.start(self.standby)
        rows = self.sql(self.primary_port, "SELECT state FROM pg_stat_replication", wait_for=[("streaming",)])
        assert rows == [("streaming",)]

    def sql(self, port: int, statement: str, dbname: str = "crm", wait_for=None, timeout: float = 30):
        """Run one statement (autocommit); with ``wait_for``, until it returns those rows."""
        deadline = time.monotonic() + timeout
        while True:
            conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname)
            conn.autocommit = True
            try:
                with conn.cursor() as cur:
                    cur.execute(statement)
                    rows = cur.fetchall() if cur.description else None
            finally:
                conn.close()
            if wait_for is None or rows == wait_for or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)

    def caught_up(self) -> None:
        """Wait until the standby has replayed everything the primary wrote."""
        lsn = self.sql(self.primary_port, "SELECT pg_current_wal_lsn()::text")[0][0]
        self.sql(
            self.standby_port,
            f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn",
            wait_for=[(True,)],
        )

    def down(self) -> None:
        for data in reversed(list(self.started)):
            subprocess.run(
                (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
                + [str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
            )
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def clusters():
    if MISSING:
        pytest.skip(f"PostgreSQL server binaries missing: {', '.join(MISSING)}")
    made = Clusters()
    try:
        made.up()
        yield made
    finally:
        made.down()


@pytest.fixture
def replica_app(clusters, tmp_path, monkeypatch):
    monkeypatch.setattr(crm_db, "REPLICA_CHECK_SECONDS", 0)  # ask the standby on every block
    monkeypatch.setattr(crm_db, "REPLICA_RETRY_SECONDS", 0)
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret-key",
            "DATABASE_URL": clusters.url(clusters.primary_port),
            "DATABASE_REPLICA_URL": clusters.url(clusters.standby_port),
            "DATABASE_REPLICA_MAX_LAG_SECONDS": 0,
            "RATELIMIT_ENABLED": False,
        }
    )
    requests_in_their_own_context(app)
    crm = app.extensions["crm"]
    with app.app_context():
        migrate(crm.db, crm.plugins)
        yield app
        crm.db.close_all()
        replica = app.extensions.get("crm_replica", {}).get("db")
        if replica is not None:
            replica.close_all()


def exported_names(client, headers) -> list[str]:
    r = client.get("/api/v1/customers/export", query_string={"format": "csv"}, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return sorted(
        row["name"] for row in csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff")))
    )


def dashboard_customers(client) -> int:
    page = client.get("/").get_data(as_text=True)
    marker = 'data-resource="customers">'
    return int(page.split(marker, 1)[1].split("<", 1)[0])


def test_reads_that_tolerate_lag_come_from_the_streaming_replica(replica_app, clusters):
    app = replica_app
    client = app.test_client()
    _, headers = user_with_token("replica_admin")
    assert web_login(client, "replica_admin", TEST_PASSWORD).status_code == 302
    for name in ("A", "B"):
        assert client.post("/api/v1/customers", json={"name": name}, headers=headers).status_code == 201
    clusters.caught_up()
    assert exported_names(client, headers) == ["A", "B"]

    # replay paused: the standby stays where it is while the primary goes on
    clusters.sql(clusters.standby_port, "SELECT pg_wal_replay_pause()")
    created = client.post("/api/v1/customers", json={"name": "C"}, headers=headers)
    assert created.status_code == 201  # writes go to the primary
    c_id = created.get_json()["id"]
    assert exported_names(client, headers) == ["A", "B"]  # the export read the replica
    assert dashboard_customers(client) == 2  # so did the dashboard
    # a large export is a task: its rows from the replica, its progress written to the primary
    app.config["EXPORT_TASK_ROWS"] = 1
    queued = client.get("/api/v1/customers/export", query_string={"format": "csv"}, headers=headers)
    assert queued.status_code == 202
    outcome = follow_task(client, queued, headers)
    assert outcome.status_code == 200, outcome.get_json()
    assert outcome.get_json()["rows"] == 2
    task = client.get(f"/api/v1/tasks/{queued.get_json()['id']}", headers=headers).get_json()
    assert task["status"] == "done" and task["progress"]["done"] == 2
    app.config["EXPORT_TASK_ROWS"] = 5000
    # one's own record, read by a path that does not tolerate lag: from the primary
    assert client.get(f"/api/v1/customers/{c_id}", headers=headers).get_json()["name"] == "C"
    primary = app.extensions["crm"].db
    with reading_replica() as used:
        assert used is not primary and database.obj is used
        assert used.execute_sql("SELECT pg_is_in_recovery()").fetchone()[0] is True
    # inside a transaction on the primary (read-your-writes), the block stays on the primary
    with database.atomic(), reading_replica() as used:
        assert used is primary

    # lagging more than DATABASE_REPLICA_MAX_LAG_SECONDS: the primary answers
    app.config["DATABASE_REPLICA_MAX_LAG_SECONDS"] = 1
    time.sleep(1.5)
    assert exported_names(client, headers) == ["A", "B", "C"]
    assert dashboard_customers(client) == 3
    with reading_replica() as used:
        assert used is primary

    # replay resumed and caught up: the replica serves again, with C
    clusters.sql(clusters.standby_port, "SELECT pg_wal_replay_resume()")
    clusters.caught_up()
    app.config["DATABASE_REPLICA_MAX_LAG_SECONDS"] = 0
    with reading_replica() as used:
        assert used is not primary
    assert exported_names(client, headers) == ["A", "B", "C"]

    # the standby stopped: every read falls back to the primary, without an error
    clusters.stop(clusters.standby)
    try:
        assert exported_names(client, headers) == ["A", "B", "C"]
        assert dashboard_customers(client) == 3
        with reading_replica() as used:
            assert used is primary
    finally:
        clusters.start(clusters.standby)
    clusters.caught_up()
    with reading_replica() as used:  # back once it answers again
        assert used is not primary


def test_without_a_replica_every_read_is_on_the_primary(app, client):
    assert not app.config["DATABASE_REPLICA_URL"]
    with reading_replica() as used:
        assert used is app.extensions["crm"].db
    assert "replica" not in client.get("/health/ready").get_json()["checks"]


def test_attribution_reports_read_from_the_replica(replica_app, clusters):
    """channel_tracking's reports and funnels (attribution over touchpoints and conversions)
    tolerate lag: with replay paused, a touchpoint ingested on the primary is not in them yet."""
    pytest.importorskip("crm_channel_tracking")
    client = replica_app.test_client()
    _, headers = user_with_token("replica_analyst")
    key = client.post("/api/v1/channel-tracking/keys", json={"name": "web"}, headers=headers)
    assert key.status_code == 201, key.get_json()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))

    def track(visitor: str) -> None:
        r = client.post(
            "/api/v1/track/batch",
            json={"events": [{"visitor_id": visitor, "event_type": "page_view", "utm_source": "douyin"}]},
            headers={"X-Tracking-Key": key.get_json()["key"]},
        )
        assert r.get_json()["accepted"] == 1, r.get_json()

    def touchpoints() -> int:
        query = {"date_from": today, "date_to": tomorrow, "model": "last_touch"}
        r = client.get("/api/v1/channel-tracking/reports/channel", query_string=query, headers=headers)
        assert r.status_code == 200, r.get_json()
        return r.get_json()["totals"]["touchpoints"]

    def funnel_starts() -> int:
        query = {"steps": "page_view,order", "date_from": today, "date_to": tomorrow}
        r = client.get("/api/v1/channel-tracking/funnels", query_string=query, headers=headers)
        assert r.status_code == 200, r.get_json()
        return r.get_json()["steps"][0]["count"]

    track("replica-one")
    clusters.caught_up()
    before = touchpoints()
    assert before >= 1 and funnel_starts() >= 1
    clusters.sql(clusters.standby_port, "SELECT pg_wal_replay_pause()")
    try:
        track("replica-two")  # written on the primary
        assert touchpoints() == before  # the report read the paused replica
        assert funnel_starts() == before
    finally:
        clusters.sql(clusters.standby_port, "SELECT pg_wal_replay_resume()")
    clusters.caught_up()
    assert touchpoints() == before + 1


def test_readiness_reports_the_replica_and_stays_ready_without_it(replica_app, clusters):
    """/health/ready names the replica's state; a lagging or stopped replica is ``degraded``,
    never a reason to take the instance out of service (its reads go to the primary)."""
    app = replica_app
    app.config["HEALTH_HEARTBEAT_MAX_AGE"] = 0  # no scheduler in this test
    client = app.test_client()

    def ready() -> tuple[int, dict]:
        r = client.get("/health/ready")
        return r.status_code, r.get_json()["checks"]["replica"]

    clusters.caught_up()
    status, replica = ready()
    assert status == 200 and replica["status"] == "ok" and replica["lag_seconds"] >= 0

    app.config["DATABASE_REPLICA_MAX_LAG_SECONDS"] = 1
    clusters.sql(clusters.standby_port, "SELECT pg_wal_replay_pause()")
    try:
        _, headers = user_with_token("replica_probe")  # a write the paused standby does not replay
        time.sleep(1.5)
        status, replica = ready()
        assert status == 200 and replica["status"] == "degraded" and replica["lag_seconds"] > 1
        assert "lagging" in replica["reason"]
    finally:
        clusters.sql(clusters.standby_port, "SELECT pg_wal_replay_resume()")
        app.config["DATABASE_REPLICA_MAX_LAG_SECONDS"] = 0
    clusters.caught_up()

    clusters.stop(clusters.standby)
    try:
        status, replica = ready()
        assert status == 200 and replica == {
            "status": "degraded",
            "reason": "replica unreachable: reads on the primary",
        }
    finally:
        clusters.start(clusters.standby)
    clusters.caught_up()
    assert ready()[1]["status"] == "ok"
