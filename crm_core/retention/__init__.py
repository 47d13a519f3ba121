"""Retention: rows of each kind are kept for a number of days, then deleted by a daily job.

Every plugin (and core capability) declares its policies through ``crm_retention_policies``
(:class:`crm_core.types.RetentionPolicy`). The job ``core:retention`` (daily, computed as of the
run's clock, ``ctx.now``) takes each policy's days from its setting (or its ``default_days``),
and deletes the rows older than the cutoff: through the policy's own ``purge(cutoff)`` when it
gives one (the audit log keeps its chain verifiable that way), else in batches of
:data:`BATCH_SIZE` rows, one short transaction each. On PostgreSQL a range-partitioned table
(partitioned on the policy's field) first loses the partitions whose whole range is older than
the cutoff (DETACH + DROP: instant compared with deleting their rows).

- ``policies()``: the declared policies, validated (:class:`Policy`).
- ``apply(now, dry_run=False)``: run every policy; a :class:`Report` with counts per policy.
- ``crm retention status`` / ``crm retention run [--at ISO] [--dry-run]``.
"""

from __future__ import annotations

from .policies import BATCH_SIZE, MAX_DAYS, Policy, RetentionError, policies
from .purge import Outcome, Report, apply, rows_due

__all__ = [
    "BATCH_SIZE",
    "MAX_DAYS",
    "Outcome",
    "Policy",
    "Report",
    "RetentionError",
    "apply",
    "policies",
    "rows_due",
]
