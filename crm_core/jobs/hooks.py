"""The jobs capability as a plugin: the run log, ``crm scheduler`` and ``crm jobs``, ``/api/v1/jobs``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import lazy_gettext as _l

from .. import hookimpl
from ..db import utcnow
from .models import MODELS, RUNNING, JobRun
from .registry import collect_jobs
from .runner import run_job
from .scheduler import run_scheduler
from .tasks import TASK_POLL_SECONDS, Task, prune_tasks, run_pending

RUN_RETENTION_DAYS = 30
RUNS_KEPT_PER_JOB = 1000


@hookimpl
def crm_models():

    return [*MODELS, Task]


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_permissions():
    return [{"resource": "jobs", "actions": ["read", "run"], "label": _l("Scheduled jobs")}]


def prune_runs(now: dt.datetime | None = None) -> int:
    """Delete finished runs older than 30 days (before ``now``, by default the current time), and
    beyond the newest 1000 of each job; returns how many rows went."""
    return prune_runs_before((now or utcnow()) - dt.timedelta(days=RUN_RETENTION_DAYS))


def prune_runs_before(cutoff: dt.datetime) -> int:
    """The job runs' retention (``core:retention``): delete finished runs started before
    ``cutoff``, and any beyond the newest 1000 of each job (the event dispatcher runs every few
    seconds); returns how many rows went."""
    deleted = JobRun.delete().where(JobRun.started_at < cutoff, JobRun.outcome != RUNNING).execute()
    for (job_id,) in JobRun.select(JobRun.job_id).distinct().tuples():
        newest = (
            JobRun.select(JobRun.id)
            .where(JobRun.job_id == job_id)
            .order_by(JobRun.id.desc())
            .offset(RUNS_KEPT_PER_JOB)
            .limit(1)
            .scalar()
        )
        if newest is not None:
            deleted += JobRun.delete().where(JobRun.job_id == job_id, JobRun.id <= newest).execute()
    return deleted


@hookimpl
def crm_jobs():
    return [
        {
            "id": "core.jobs:tasks",
            "func": run_pending,
            "trigger": "interval",
            "seconds": TASK_POLL_SECONDS,
            "description": "Run queued tasks (imports, large exports) one after another.",
        },
        {
            "id": "core.jobs:prune-tasks",
            "func": prune_tasks,
            "trigger": "cron",
            "hour": 3,
            "minute": 27,
            "description": "Delete finished tasks and their files after a week.",
        },
    ]


@hookimpl
def crm_retention_policies():
    return [
        {
            "name": "job_runs",
            "model": JobRun,
            "field": JobRun.started_at,
            "where": JobRun.outcome != RUNNING,  # a run still going is never pruned
            "setting": "JOB_RUN_RETENTION_DAYS",
            "default_days": RUN_RETENTION_DAYS,
            "purge": prune_runs_before,
        }
    ]


@hookimpl
def crm_cli(group):
    @group.command("scheduler")
    @click.option(
        "--poll", default=5.0, show_default=True, help="Seconds between tries for the lock as a standby."
    )
    @with_appcontext
    def scheduler_command(poll):
        """Run scheduled jobs (event dispatch, webhook delivery, plugin jobs) until stopped.

        Start it once beside the web workers. A second one started by mistake waits as a standby
        and takes over when the first stops (database lock).
        """

        app = current_app._get_current_object()
        click.echo("scheduler: starting (a standby if another scheduler holds the lock)")
        ran = run_scheduler(app, poll_seconds=poll)
        click.echo("scheduler: stopped" if ran else "scheduler: stopped while standby")

    @group.group("jobs")
    def jobs_group():
        """Scheduled jobs: list them, run one now, show the run log."""

    @jobs_group.command("list")
    @with_appcontext
    def list_command():
        """Every declared job with its schedule."""

        for spec in collect_jobs(current_app.extensions["crm"].plugins).values():
            schedule = ", ".join(f"{k}={v}" for k, v in spec.trigger_args.items())
            line = f"{spec.id:<36} {spec.trigger_kind:<8} {schedule}"
            click.echo(line + (f"  ERROR: {spec.error}" if spec.error else ""))

    @jobs_group.command("run")
    @click.argument("job_id")
    @click.option(
        "--at",
        "at",
        type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]),
        default=None,
        help="Run as of this UTC time (the job context's clock): back-fills and tests.",
    )
    @with_appcontext
    def run_command(job_id, at):
        """Run JOB_ID now in this process (logged like a scheduled run); exit 1 if it fails."""

        jobs = collect_jobs(current_app.extensions["crm"].plugins)
        spec = jobs.get(job_id)
        if spec is None:
            raise click.ClickException(f"no job {job_id!r}; known: {', '.join(sorted(jobs)) or 'none'}")
        if spec.error:
            raise click.ClickException(f"job {job_id!r} is misdeclared: {spec.error}")
        run = run_job(current_app._get_current_object(), spec, source="cli", now=at)
        click.echo(
            f"run {run.id}: {run.outcome} in {run.duration_ms} ms"
            + (f" -> {run.result}" if run.result else "")
        )
        if run.error:
            click.echo(run.error, err=True)
            raise SystemExit(1)

    @jobs_group.command("runs")
    @click.option("--job", "job_id", default=None, help="Only this job.")
    @click.option("--limit", default=20, show_default=True, type=int)
    @with_appcontext
    def runs_command(job_id, limit):
        """The most recent runs, newest first."""
        query = JobRun.select().order_by(JobRun.id.desc()).limit(limit)
        if job_id:
            query = query.where(JobRun.job_id == job_id)
        for run in query:
            error = f"  {run.error.splitlines()[0]}" if run.error else ""
            click.echo(
                f"{run.id:>7} {run.job_id:<36} {run.source:<8} {run.started_at:%Y-%m-%d %H:%M:%S} "
                f"{run.outcome:<8} {run.duration_ms or 0:>6} ms  pid {run.pid}{error}"
            )
