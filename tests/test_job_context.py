"""Jobs receive a ``JobContext`` (the app, the run's clock, the jobs' system actor), driven through
``crm jobs run`` and ``POST /api/v1/jobs/<id>/run``; jobs without an argument run as before."""

from __future__ import annotations

import datetime as dt

from crm_core import hookimpl
from crm_core.plugin_api import Customer, create_record
from crm_core.testing import run_cli, user_with_token


class Stamper:
    """A plugin whose job writes a customer through the write path, as of the context's clock."""

    def __init__(self):
        self.contexts = []
        self.plain_runs = 0

    def stamp(self, ctx):
        self.contexts.append(ctx)
        customer = create_record("customers", Customer, {"name": f"stamp {ctx.now:%Y-%m-%d}"}, ctx.actor)
        return customer.id

    def plain(self):
        self.plain_runs += 1

    @hookimpl
    def crm_jobs(self):
        return [
            {"id": "stamper:stamp", "func": self.stamp, "trigger": "cron", "hour": 1},
            {"id": "stamper:plain", "func": self.plain, "trigger": "cron", "hour": 2},
            {"id": "stamper:greedy", "func": lambda a, b: None, "trigger": "cron", "hour": 3},
        ]


def _admin(app):
    with app.app_context():
        return user_with_token("jobadmin", ["admin"])[1]


def test_the_cli_runs_a_job_as_of_a_given_time_with_its_system_actor(register_plugin):
    plugin = Stamper()
    app = register_plugin(plugin, "stamper")
    result = run_cli(app, "jobs", "run", "stamper:stamp", "--at", "2026-03-01T08:30:00")
    assert result.exit_code == 0, result.output
    (ctx,) = plugin.contexts
    assert ctx.now == dt.datetime(2026, 3, 1, 8, 30) and ctx.source == "cli" and ctx.app is app
    assert ctx.job_id == "stamper:stamp" and ctx.run_id and ctx.actor.is_admin
    assert ctx.log.name == "crm.jobs.stamper:stamp"
    headers = _admin(app)
    client = app.test_client()
    created = client.get("/api/v1/customers?q=stamp 2026-03-01", headers=headers).get_json()
    assert [c["name"] for c in created] == ["stamp 2026-03-01"]
    # the write reads in the audit log as the job, not as some user
    entries = client.get(
        f"/api/v1/audit?resource=customers&record_id={created[0]['id']}", headers=headers
    ).get_json()
    assert [(e["action"], e["actor_name"], e["client_id"], e["actor_id"]) for e in entries] == [
        ("create", "job:stamper:stamp", "job", None)
    ]


def test_the_api_runs_a_job_with_a_context_whose_clock_is_the_start(register_plugin):
    plugin = Stamper()
    app = register_plugin(plugin, "stamper")
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    r = app.test_client().post("/api/v1/jobs/stamper:stamp/run", headers=_admin(app))
    assert r.status_code == 200 and r.get_json()["outcome"] == "success", r.get_json()
    (ctx,) = plugin.contexts
    assert ctx.source == "api" and before - dt.timedelta(seconds=1) <= ctx.now <= before + dt.timedelta(
        minutes=1
    )


def test_a_job_without_arguments_still_runs_and_one_with_two_is_refused(register_plugin):
    plugin = Stamper()
    app = register_plugin(plugin, "stamper")
    assert run_cli(app, "jobs", "run", "stamper:plain").exit_code == 0
    assert plugin.plain_runs == 1
    listed = run_cli(app, "jobs", "list").output
    assert "stamper:greedy" in listed and "func must take one argument (the JobContext) or none" in listed


def test_the_core_prune_job_prunes_as_of_the_context_clock(app):
    from crm_core.jobs.models import JobRun

    JobRun.create(job_id="x:recent", outcome="success")
    assert run_cli(app, "jobs", "run", "core:retention").exit_code == 0
    assert JobRun.select().where(JobRun.job_id == "x:recent").count() == 1
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=31)
    result = run_cli(app, "jobs", "run", "core:retention", "--at", f"{later:%Y-%m-%dT%H:%M:%S}")
    assert result.exit_code == 0, result.output
    assert JobRun.select().where(JobRun.job_id == "x:recent").count() == 0
