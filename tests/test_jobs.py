"""The scheduler: jobs from crm_jobs, one scheduler at a time, run log, run now (CLI and API)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from crm_core import hookimpl
from crm_core.cli import build_cli
from crm_core.db import database
from crm_core.events.models import OutboxEvent
from crm_core.jobs import run_scheduler
from crm_core.jobs.models import JobRun


class Ticker:
    """A plugin with one fast interval job, one failing job and one misdeclared job."""

    def __init__(self):
        self.ticks = 0

    def tick(self):
        self.ticks += 1
        return self.ticks

    def boom(self):
        raise RuntimeError("the mail server is down")

    @hookimpl
    def crm_jobs(self):
        return [
            {"id": "ticker:tick", "func": self.tick, "trigger": "interval", "seconds": 0.2},
            {"id": "ticker:boom", "func": self.boom, "trigger": "cron", "hour": 4},
            {"id": "ticker:bad", "func": self.tick, "trigger": "cron", "hour": 99},
        ]


def _wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_two_schedulers_only_one_runs_jobs(register_plugin):
    first, second = Ticker(), Ticker()
    app_a = register_plugin(first, "ticker")
    app_b = register_plugin(second, "ticker")
    stops = {"a": threading.Event(), "b": threading.Event()}
    threads = {
        name: threading.Thread(target=run_scheduler, args=(app, 0.1, stops[name]), daemon=True)
        for name, app in (("a", app_a), ("b", app_b))
    }
    try:
        for t in threads.values():
            t.start()
        assert _wait_for(lambda: first.ticks + second.ticks >= 5)
        time.sleep(0.5)
        assert (first.ticks == 0) != (second.ticks == 0), (first.ticks, second.ticks)
        leader, standby = ("a", "b") if first.ticks else ("b", "a")
        standby_plugin = second if leader == "a" else first
        stops[leader].set()  # the leader stops: the standby takes over
        threads[leader].join(5)
        assert not threads[leader].is_alive()
        assert _wait_for(lambda: standby_plugin.ticks >= 3)
        with app_a.app_context():
            runs = JobRun.select().where(JobRun.job_id == "ticker:tick")
            assert runs.count() >= 5 and all(r.outcome == "success" for r in runs)
            assert all(r.source == "schedule" for r in runs)
    finally:
        for stop in stops.values():
            stop.set()
        for t in threads.values():
            t.join(5)


@pytest.mark.slow
def test_two_crm_scheduler_processes_one_runs_jobs(db_url, tmp_path):
    """Real ``crm scheduler`` processes: one runs the dispatcher job, the other takes over when
    the first is killed."""
    env = {
        **os.environ,
        "CRM_DATABASE_URL": db_url,
        "CRM_INSTANCE_PATH": str(tmp_path / "inst"),
        "CRM_SECRET_KEY": "scheduler-test-secret",
    }
    crm = os.path.join(os.path.dirname(sys.executable), "crm")
    errs = [(tmp_path / f"scheduler-{n}.log").open("w") for n in range(2)]
    procs = [
        subprocess.Popen([crm, "scheduler", "--poll", "0.3"], env=env, stdout=subprocess.DEVNULL, stderr=err)
        for err in errs
    ]

    def logs():
        return "\n".join(p.read_text()[-2000:] for p in sorted(tmp_path.glob("scheduler-*.log")))

    from crm_core.app import create_app

    app = create_app({"DATABASE_URL": db_url, "INSTANCE_PATH": str(tmp_path / "inst2"), "TESTING": True})
    try:
        with app.app_context():

            def pids():
                database.close() if not database.is_closed() and not database.in_transaction() else None
                return {
                    r.pid for r in JobRun.select(JobRun.pid).where(JobRun.job_id == "core.events:dispatch")
                }

            assert _wait_for(
                lambda: JobRun.select().where(JobRun.job_id == "core.events:dispatch").count() >= 3, 60
            ), logs()
            leaders = pids()
            assert len(leaders) == 1 and leaders <= {p.pid for p in procs}
            leader = next(p for p in procs if p.pid in leaders)
            leader.send_signal(signal.SIGKILL)
            leader.wait(10)
            assert _wait_for(lambda: len(pids()) == 2, 60), logs()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        for err in errs:
            err.close()
        database.close() if not database.is_closed() else None
        app.extensions["crm"].db.close()


@pytest.fixture
def ticker_app(register_plugin):
    plugin = Ticker()
    application = register_plugin(plugin, "ticker")
    with application.app_context():
        yield application, plugin


def test_jobs_api_lists_and_runs_now(ticker_app, make_user):
    application, plugin = ticker_app
    client = application.test_client()
    _, admin = make_user("jobs_admin")
    _, clerk = make_user("jobs_clerk", roles=("sales",))
    r = client.get("/api/v1/jobs", headers=admin)
    assert r.status_code == 200
    jobs = {j["id"]: j for j in r.get_json()}
    assert {"core.events:dispatch", "ticker:tick", "ticker:boom"} <= set(jobs)
    assert jobs["ticker:bad"]["error"] and "cron" in jobs["ticker:bad"]["error"]
    assert jobs["ticker:tick"]["last_run"] is None and jobs["ticker:tick"]["next_run_at"] is None
    assert "T04:00:00" in jobs["ticker:boom"]["next_run_at"]  # cron hour=4, UTC
    assert client.get("/api/v1/jobs", headers=clerk).status_code == 403
    assert client.post("/api/v1/jobs/ticker:tick/run", headers=clerk).status_code == 403
    assert plugin.ticks == 0

    r = client.post("/api/v1/jobs/ticker:tick/run", headers=admin)
    assert r.status_code == 200, r.get_json()
    run = r.get_json()
    assert run["outcome"] == "success" and run["source"] == "api" and run["result"] == "1"
    assert run["finished_at"] and run["duration_ms"] >= 0 and run["pid"] == os.getpid()
    assert plugin.ticks == 1

    r = client.post("/api/v1/jobs/ticker:boom/run", headers=admin)
    assert r.status_code == 200 and r.get_json()["outcome"] == "error"
    assert "the mail server is down" in r.get_json()["error"]
    failed = OutboxEvent.get(OutboxEvent.type == "job.failed")
    assert failed.data["job_id"] == "ticker:boom" and failed.data["run_id"] == r.get_json()["id"]

    assert client.post("/api/v1/jobs/nope:nope/run", headers=admin).status_code == 404
    assert client.post("/api/v1/jobs/ticker:bad/run", headers=admin).status_code == 409
    r = client.get("/api/v1/jobs/runs?outcome=error", headers=admin)
    assert [x["job_id"] for x in r.get_json()] == ["ticker:boom"]
    r = client.get("/api/v1/jobs", headers=admin)
    assert {j["id"]: j for j in r.get_json()}["ticker:tick"]["last_run"]["outcome"] == "success"


def test_cli_jobs_run_list_runs(ticker_app):
    application, plugin = ticker_app
    runner = application.test_cli_runner()
    cli = build_cli()
    result = runner.invoke(cli, ["jobs", "list"])
    assert result.exit_code == 0 and "ticker:tick" in result.output and "ERROR" in result.output
    result = runner.invoke(cli, ["jobs", "run", "ticker:tick"])
    assert result.exit_code == 0, result.output
    assert "success" in result.output and plugin.ticks == 1
    result = runner.invoke(cli, ["jobs", "run", "ticker:boom"])
    assert result.exit_code == 1 and "mail server" in result.output
    result = runner.invoke(cli, ["jobs", "run", "nope"])
    assert result.exit_code != 0 and "no job" in result.output
    result = runner.invoke(cli, ["jobs", "runs", "--job", "ticker:tick"])
    assert "ticker:tick" in result.output and "cli" in result.output


def test_prune_runs_keeps_recent(app):
    import datetime as dt

    from crm_core.db import utcnow
    from crm_core.jobs.hooks import prune_runs

    old = utcnow() - dt.timedelta(days=40)
    JobRun.create(job_id="x:old", started_at=old, outcome="success")
    JobRun.create(job_id="x:new", outcome="success")
    assert prune_runs() == 1
    assert [r.job_id for r in JobRun.select()] == ["x:new"]
