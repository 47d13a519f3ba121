"""On PostgreSQL the audit log is partitioned by month on ``occurred_at``
(``crm_core.partitions``): the chain's purge drops a month all of whose entries precede the
anchor instead of deleting them row by row. The append-only trigger comes along onto every
partition. The unique ``seq`` index gains ``occurred_at`` (PostgreSQL's rule for partitioned
tables); ``seq`` is still given out by the one sealer under the head row's lock, and ``verify``
still reports a duplicate or a gap. SQLite: unchanged."""

from crm_core.partitions import partition_by_month


def up(migrator, db):
    partition_by_month(db, "audit_entry", "occurred_at")
