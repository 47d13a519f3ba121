"""On PostgreSQL the log of webhook attempts (every HTTP request made) is partitioned by month on
``started_at`` (``crm_core.partitions``), so retention drops old months whole. Attempts keep their
foreign key to the delivery (and its ON DELETE CASCADE). SQLite: unchanged."""

from crm_core.partitions import partition_by_month


def up(migrator, db):
    partition_by_month(db, "webhook_attempt", "started_at")
