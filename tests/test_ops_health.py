"""/health/live and /health/ready: unauthenticated, cheap, never rate limited, and ready only
when the database answers, every migration is applied and the scheduler's heartbeat is recent."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from crm_core import create_app
from crm_core.db import utcnow
from crm_core.jobs import run_scheduler
from crm_core.jobs.models import SchedulerHeartbeat
from crm_core.testing import requests_in_their_own_context


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


def _wait_for(cond, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def _scheduler(app):
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler, args=(app, 0.1, stop), daemon=True)
    thread.start()
    return stop, thread


def test_ready_when_the_scheduler_beats_and_not_once_its_heartbeat_is_stale(app, client):
    answer = client.get("/health/ready")
    assert answer.status_code == 503  # no scheduler has run on this database yet
    assert answer.json["checks"]["scheduler"]["status"] == "failing"
    assert answer.json["checks"]["database"] == {"status": "ok"}
    assert answer.json["checks"]["migrations"] == {"status": "ok"}

    stop, thread = _scheduler(app)
    try:
        assert _wait_for(lambda: SchedulerHeartbeat.get_or_none(SchedulerHeartbeat.id == 1) is not None)
        answer = client.get("/health/ready")
        assert answer.status_code == 200, answer.json
        assert answer.json["status"] == "ok"
        assert answer.json["checks"]["scheduler"]["status"] == "ok"
        assert answer.headers["Cache-Control"] == "no-store"
    finally:
        stop.set()
        thread.join(30)

    # the scheduler's last beat, ten minutes ago: it died without a word
    SchedulerHeartbeat.update(beat_at=utcnow() - dt.timedelta(minutes=10)).execute()
    answer = client.get("/health/ready")
    assert answer.status_code == 503
    scheduler = answer.json["checks"]["scheduler"]
    assert scheduler["status"] == "failing" and scheduler["age_seconds"] >= 600
    assert answer.json["checks"]["database"] == {"status": "ok"}
    assert client.get("/health/live").status_code == 200


def test_ready_fails_on_an_unreachable_database_while_live_answers(tmp_path):
    port = _closed_port()
    url = f"postgresql://crm:secret-password@127.0.0.1:{port}/crm"
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", "DATABASE_URL": url}
    )
    requests_in_their_own_context(app)
    client = app.test_client()

    live = client.get("/health/live")
    assert live.status_code == 200 and live.json == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json["status"] == "failing"
    assert {name: check["status"] for name, check in ready.json["checks"].items()} == {
        "database": "failing",
        "migrations": "failing",
        "scheduler": "failing",
    }
    # nothing of the settings: no URL, host, port, user or password, no driver message
    text = ready.get_data(as_text=True)
    for secret in (str(port), "secret-password", "127.0.0.1", "crm:", "Operational"):
        assert secret not in text


def test_ready_fails_while_migrations_are_pending(tmp_path):
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    requests_in_their_own_context(app)
    answer = app.test_client().get("/health/ready")
    assert answer.status_code == 503
    migrations = answer.json["checks"]["migrations"]
    assert migrations["status"] == "failing" and migrations["pending"] > 0
    assert answer.json["checks"]["database"] == {"status": "ok"}


def test_probes_are_public_and_never_rate_limited(db_url, tmp_path):
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "x",
        "DATABASE_URL": db_url,
        "RATELIMIT_DEFAULT": "3/minute",
        "HEALTH_HEARTBEAT_MAX_AGE": 0,  # no scheduler in this test: the heartbeat is not checked
    }
    app = create_app(config)
    requests_in_their_own_context(app)
    client = app.test_client()
    for _ in range(8):
        assert client.get("/health/live").status_code == 200
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.json
        assert set(ready.json["checks"]) == {"database", "migrations"}
        assert "X-RateLimit-Limit" not in ready.headers
    # the budget applies to everything else
    statuses = [client.get("/api/v1/health").status_code for _ in range(5)]
    assert statuses[-1] == 429
    # a bearer header that is no user's token is not refused on a probe (no token lookup there)
    assert client.get("/health/live", headers={"Authorization": "Bearer nobody"}).status_code == 200


@pytest.mark.slow
def test_crm_run_turns_ready_once_its_scheduler_beats(tmp_path):
    """`crm run` (web server and scheduler child): /health/ready goes green on its own."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_servers import CRM, free_port  # the servers' own helpers

    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_INSTANCE_PATH=str(tmp_path), CRM_SECRET_KEY="ready-test")
    subprocess.run([CRM, "init"], env=env, check=True, capture_output=True, timeout=120)
    port = free_port()
    proc = subprocess.Popen(
        [CRM, "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    answers = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=5) as answer:
                    answers.append((answer.status, json.loads(answer.read())))
                    break
            except urllib.error.HTTPError as refused:  # 503 until the scheduler's first beat
                answers.append((refused.code, json.loads(refused.read())))
            except OSError:
                pass
            time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert answers and answers[-1][0] == 200, (answers[-3:], proc.stdout.read()[-2000:])
    assert answers[-1][1]["checks"]["scheduler"]["status"] == "ok"
