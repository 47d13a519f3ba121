"""Running the policies: batched deletes, and dropping whole partitions on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field

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

_UPPER = re.compile(r"TO \('([^']+)'\)")


def _partition_key(model) -> str | None:
    """The column a range-partitioned table is partitioned on (None: not partitioned, another
    strategy, or a key of several columns)."""
    row = database.execute_sql(
        "SELECT pt.partstrat, pt.partnatts, a.attname FROM pg_partitioned_table pt "
        "JOIN pg_class c ON c.oid = pt.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0] "
        "WHERE c.relname = %s AND n.nspname = current_schema()",
        (model._meta.table_name,),
    ).fetchone()
    if row is None or row[0] != "r" or row[1] != 1:
        return None
    return row[2]


def _droppable(policy: Policy, cutoff: dt.datetime) -> list[tuple[str, int]]:
    """``(partition, rows)`` of the partitions of ``policy``'s table whose whole range is before
    ``cutoff``: only for a policy without its own ``purge`` or ``where`` (those rows are all
    due), on PostgreSQL, for a table range-partitioned on the policy's field."""
    if policy.purge is not None or policy.where is not None or policy.field is None or not is_postgres():
        return []
    if _partition_key(policy.model) != policy.field.column_name:
        return []
    rows = database.execute_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE p.relname = %s AND n.nspname = current_schema() ORDER BY c.relname",
        (policy.model._meta.table_name,),
    ).fetchall()
    out = []
    for name, bound in rows:
        upper = _UPPER.search(bound or "")  # DEFAULT and MAXVALUE partitions have no upper date
        if upper is None:
            continue
        try:
            end = _naive_utc(dt.datetime.fromisoformat(upper.group(1)))
        except ValueError:
            continue
        # the upper bound is exclusive: every row is before it, so before the cutoff
        if end <= cutoff:
            (count,) = database.execute_sql(f"SELECT count(*) FROM {_quoted(name)}").fetchone()
            out.append((name, count))
    return out


def _drop_partition(model, name: str) -> None:
    """Detach the partition ``name`` of ``model``'s table and drop it, in one transaction."""
    with write_transaction():
        database.execute_sql(
            f"ALTER TABLE {_quoted(model._meta.table_name)} DETACH PARTITION {_quoted(name)}"
        )
        database.execute_sql(f"DROP TABLE {_quoted(name)}")
    log.info("retention: dropped partition %s of %s", name, model._meta.table_name)


def _quoted(name: str) -> str:
    # names come from pg_class or the model, never from input; quoting keeps odd ones intact
    return '"' + name.replace('"', '""') + '"'


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def require_ok(report: Report) -> Report:
    """``report``, or ``RetentionError`` naming every policy that could not run (after the others
    ran: a bad plugin setting never keeps the audit log from its purge)."""
    if report.errors:
        raise RetentionError("; ".join(report.errors))
    return report
