"""On PostgreSQL the outbox is partitioned by month on ``occurred_at`` (``crm_core.partitions``):
retention drops a month whose events are all dispatched instead of deleting them row by row, and
the daily ``core:partitions`` job creates the months ahead. Its primary key and the unique ``uid``
index gain ``occurred_at`` (PostgreSQL's rule); ``uid`` stays unique in practice (random, 128
bits). ``event_consumer`` can no longer reference the outbox with a foreign key: its rows go with
their event through the ``event_consumers`` retention policy instead. SQLite: unchanged."""

from crm_core.partitions import partition_by_month


def up(migrator, db):
    partition_by_month(db, "event_outbox", "occurred_at")
