"""Retention as a core capability: the daily job ``core:retention`` and ``crm retention``."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext

from .. import hookimpl, partitions
from ..db import database, utcnow
from .policies import RetentionError, policies
from .purge import apply, require_ok, rows_due


def retention_job(ctx) -> dict:
    """Delete what every policy keeps no longer, as of the run's clock; the counts per policy are
    the run's result (and its log). A policy that cannot run fails the run after the others ran."""
    report = apply(ctx.now)
    for line in report.lines():
        ctx.log.info("retention: %s", line)
    require_ok(report)
    return report.counts()


def partitions_job(ctx) -> dict:
    """Create this month's partition and the next ones of every table partitioned by month on
    PostgreSQL (nothing on SQLite): a month never starts in the default partition."""
    created = partitions.maintain(database, today=ctx.now.date())
    for table, names in created.items():
        ctx.log.info("partitions: %s gained %s", table, ", ".join(names))
    return {table: len(names) for table, names in created.items()}


@hookimpl
def crm_jobs():
    return [
        {
            "id": "core:partitions",
            "func": partitions_job,
            "trigger": "cron",
            "hour": 3,
            "minute": 7,
            "description": "Create the coming months' partitions of the partitioned tables (PostgreSQL).",
        },
        {
            "id": "core:retention",
            "func": retention_job,
            "trigger": "cron",
            "hour": 3,
            "minute": 37,
            "description": "Delete rows older than their retention policy (audit log, outbox, logs, plugins').",
        },
    ]


def _moment(value: str | None) -> dt.datetime:
    """``--at``: an ISO date or time (naive: UTC; with an offset: converted to UTC)."""
    if not value:
        return utcnow()
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO date or time: {value!r}", param_hint="--at") from None
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


@hookimpl
def crm_cli(group):
    @group.group("retention")
    def retention_group():
        """Retention policies: how long rows of each kind are kept, and their purge."""

    @retention_group.command("status")
    @click.option("--at", "at", default=None, help="As of this ISO time (UTC) instead of now.")
    @with_appcontext
    def status_command(at):
        """Each policy: its days (and the setting they come from) and how many rows are due now."""
        now = _moment(at)
        click.echo(f"{'policy':<32} {'days':>6}  {'from':<32} {'due':>8}")
        for policy in policies():
            if policy.error:
                click.echo(f"{policy.name:<32} ERROR {policy.error}")
                continue
            due = rows_due(policy, policy.cutoff(now))
            click.echo(
                f"{policy.name:<32} {policy.days:>6}  {policy.source:<32} {'?' if due is None else due:>8}"
            )

    @retention_group.command("run")
    @click.option("--at", "at", default=None, help="Run as of this ISO time (UTC): back-fills and tests.")
    @click.option("--dry-run", is_flag=True, help="Count what is due; delete nothing.")
    @click.option("--policy", "names", multiple=True, help="Only this policy (repeatable).")
    @with_appcontext
    def run_command(at, dry_run, names):
        """Apply every policy now (the job ``core:retention`` does it daily); exit 1 when a policy
        is misdeclared or its setting is bad (the others still run)."""
        report = apply(_moment(at), dry_run=dry_run, names=set(names) or None)
        for line in report.lines():
            click.echo(line)
        if names and not report.outcomes:
            raise click.ClickException(f"no policy named {', '.join(names)}")
        try:
            require_ok(report)
        except RetentionError as exc:
            raise click.ClickException(str(exc)) from None

    @retention_group.command("partitions")
    @click.option("--create", is_flag=True, help="Create the coming months now (the job does it daily).")
    @with_appcontext
    def partitions_command(create):
        """The tables partitioned by month (PostgreSQL): their months and the rows in each."""
        if create:
            for table, names in partitions.maintain(database).items():
                click.echo(f"{table}: created {', '.join(names)}")
        tables = partitions.monthly_tables(database)
        if not tables:
            click.echo("no partitioned tables (SQLite keeps every table whole)")
        for table in tables:
            months = partitions.months_of(database, table)
            click.echo(f"{table} ({partitions.partition_column(database, table)}): {len(months)} months")
            for name in [m.name for m in months] + [f"{table}_default"]:
                (rows,) = database.execute_sql(f"SELECT count(*) FROM {partitions.quoted(name)}").fetchone()
                click.echo(f"  {name:<40} {rows:>10}")
