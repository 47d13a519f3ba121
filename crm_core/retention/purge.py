"""Running the policies: batched deletes, and dropping whole partitions on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from .. import partitions
from ..db import database, is_postgres, write_transaction
from .policies import BATCH_SIZE, Policy, RetentionError, policies

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one policy did (or, in a dry run, would do) at one cutoff."""

    name: str
    days: int | None
    cutoff: dt.datetime | None
    deleted: int = 0
    partitions: list[str] = field(default_factory=list)
    error: str | None = None

    def describe(self, dry_run: bool = False) -> str:
        """One line for the CLI and the job's log."""
        if self.error:
            return f"{self.name}: ERROR {self.error}"
        verb = "due" if dry_run else "deleted"
        dropped = (
            f", {len(self.partitions)} partition(s) {'due' if dry_run else 'dropped'}"
            if self.partitions
            else ""
        )
        return f"{self.name}: {self.deleted} {verb} (older than {self.days} days, before {self.cutoff:%Y-%m-%d %H:%M}){dropped}"


@dataclass
class Report:
    """The outcome of every policy in one run."""

    now: dt.datetime
    dry_run: bool
    outcomes: list[Outcome]

    @property
    def errors(self) -> list[str]:
        """The policies that could not run, with why."""
        return [o.error for o in self.outcomes if o.error]

    def counts(self) -> dict[str, int]:
        """``{policy: rows deleted (or due)}`` of the policies that ran (the job run's result)."""
        return {o.name: o.deleted for o in self.outcomes if not o.error}

    def lines(self) -> list[str]:
        """One line per policy."""
        return [o.describe(self.dry_run) for o in self.outcomes]


def rows_due(policy: Policy, cutoff: dt.datetime) -> int | None:
    """How many rows of ``policy`` are older than ``cutoff`` (None: a policy with only a
    ``purge`` function, which alone knows)."""
    cond = policy.condition(cutoff)
    if cond is None:
        return None
    return policy.model.select().where(cond).count()


def apply(now: dt.datetime, dry_run: bool = False, names: set[str] | None = None) -> Report:
    """Run every policy (or those in ``names``) as of ``now`` (naive UTC); in a dry run count
    what is due and delete nothing. A misdeclared policy or a bad setting is reported in its
    outcome and does not stop the others."""
    outcomes = []
    for policy in policies():
        if names is not None and policy.name not in names:
            continue
        if policy.error:
            outcomes.append(Outcome(policy.name, None, None, error=policy.error))
            continue
        cutoff = policy.cutoff(now)
        outcome = Outcome(policy.name, policy.days, cutoff)
        if dry_run:
            outcome.partitions = [name for name, _rows in _droppable(policy, cutoff)]
            outcome.deleted = rows_due(policy, cutoff) or 0
        else:
            _run(policy, cutoff, outcome)
        outcomes.append(outcome)
    return Report(now=now, dry_run=dry_run, outcomes=outcomes)


def _run(policy: Policy, cutoff: dt.datetime, outcome: Outcome) -> None:
    if policy.purge is not None:
        deleted = policy.purge(cutoff)
        outcome.deleted = int(deleted or 0)
        return
    for name, rows in _droppable(policy, cutoff):
        _drop_partition(policy.model, name)
        outcome.partitions.append(name)
        outcome.deleted += rows
    outcome.deleted += delete_in_batches(policy.model, policy.condition(cutoff))


def delete_in_batches(model, condition, batch: int | None = None) -> int:
    """Delete the rows of ``model`` matching ``condition``, ``batch`` (default
    :data:`BATCH_SIZE`) at a time, each batch in its own transaction; returns how many went."""
    batch = batch or BATCH_SIZE
    pk = model._meta.primary_key
    if pk is None or getattr(pk, "field_names", None):  # no single-column key: one statement
        with write_transaction():
            return model.delete().where(condition).execute()
    total = 0
    while True:
        with write_transaction():
            ids = [row[0] for row in model.select(pk).where(condition).order_by(pk).limit(batch).tuples()]
            if not ids:
                break
            # the condition again: a key unique only per partition never takes a newer row along
            total += model.delete().where(pk.in_(ids), condition).execute()
        if len(ids) < batch:
            break
    return total


# --- partitions (PostgreSQL) ------------------------------------------------------------------


def _droppable(policy: Policy, cutoff: dt.datetime) -> list[tuple[str, int]]:
    """``(partition, rows)`` of the monthly partitions of ``policy``'s table whose whole range is
    before ``cutoff`` and whose every row the policy's ``where`` (if any) lets go: on PostgreSQL,
    for a policy without its own ``purge`` and a table range-partitioned on the policy's field."""
    if policy.purge is not None or policy.field is None or not is_postgres():
        return []
    table = policy.model._meta.table_name
    if partitions.partition_column(database, table) != policy.field.column_name:
        return []
    out = []
    for month in partitions.months_of(database, table):
        # the upper bound is exclusive: every row is before it, so before the cutoff
        if month.upper > cutoff:
            break
        in_month = (policy.field >= month.lower) & (policy.field < month.upper)
        if policy.where is not None and policy.model.select().where(in_month, ~policy.where).exists():
            continue  # a row still kept (a pending event...): this month goes row by row
        (count,) = database.execute_sql(f"SELECT count(*) FROM {partitions.quoted(month.name)}").fetchone()
        out.append((month.name, count))
    return out


def _drop_partition(model, name: str) -> None:
    """Detach the partition ``name`` of ``model``'s table and drop it, in one transaction."""
    with write_transaction():
        partitions.drop_month(database, model._meta.table_name, name)
    log.info("retention: dropped partition %s of %s", name, model._meta.table_name)


def require_ok(report: Report) -> Report:
    """``report``, or ``RetentionError`` naming every policy that could not run (after the others
    ran: a bad plugin setting never keeps the audit log from its purge)."""
    if report.errors:
        raise RetentionError("; ".join(report.errors))
    return report
