"""What a backup's manifest says about the data, read from the very snapshot that was backed up
(the SQLite copy itself, the exported PostgreSQL snapshot ``pg_dump`` reads), so the migrations
and audit head it names are those of the data beside it, even while the app writes."""

from __future__ import annotations

HISTORY_PREFIX = "crm_migrations_"


def facts(cursor, backend: str) -> dict:
    """``{"migrations": {history table: [names]}, "audit_head": {...} | None, "data_keys": n}`` (``data_keys``: keys the local master key wraps)``
    read through the DB-API ``cursor`` of a connection holding the snapshot."""
    if backend == "sqlite":
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'crm\\_migrations\\_%' ESCAPE '\\'"
        )
    else:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_name LIKE 'crm\\_migrations\\_%'"
        )
    tables = sorted(row[0] for row in cursor.fetchall())
    migrations = {}
    for table in tables:
        # the names come from the catalogue and match the prefix: safe to quote into the SQL
        cursor.execute(f'SELECT name FROM "{table}" ORDER BY name')
        migrations[table] = [row[0] for row in cursor.fetchall()]
    head = None
    if _has_table(cursor, backend, "audit_head"):
        cursor.execute("SELECT seq, hash, key_id FROM audit_head WHERE id = 1")
        row = cursor.fetchone()
        if row is not None:
            head = {"seq": int(row[0] or 0), "hash": row[1] or "", "key_id": row[2]}
    data_keys = 0
    if _has_table(cursor, backend, "crypto_data_key"):
        # keys a KMS wraps do not need the master key
        cursor.execute("SELECT count(*) FROM crypto_data_key WHERE wrapper = 'local'")
        data_keys = int(cursor.fetchone()[0])
    return {"migrations": migrations, "audit_head": head, "data_keys": data_keys}


def _has_table(cursor, backend: str, name: str) -> bool:
    if backend == "sqlite":
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    else:
        cursor.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = %s",
            (name,),
        )
    return cursor.fetchone() is not None
