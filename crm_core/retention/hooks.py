"""Retention as a core capability: the daily job ``core:retention`` and ``crm retention``."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext

from .. import hookimpl
from ..db import utcnow
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


@hookimpl
def crm_jobs():
    return [
        {
            "id": "core:retention",
            "func": retention_job,
            "trigger": "cron",
            "hour": 3,
            "minute": 37,
            "description": "Delete rows older than their retention policy (audit log, outbox, logs, plugins').",
        }
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
