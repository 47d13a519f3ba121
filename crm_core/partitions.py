"""Monthly range partitions of append-only tables on PostgreSQL (a no-op on SQLite).

A partitioned table ``t`` has one partition per calendar month, ``t_YYYY_MM`` covering
``[first day, first day of the next month)`` of its time column, and ``t_default`` for any row
outside the created months (so an insert never fails for want of a partition). The daily job
``core:partitions`` creates this month and :data:`MONTHS_AHEAD` more for every such table (moving
rows the default partition already holds for them); retention (``crm_core.retention``) drops the
months wholly older than a policy's cutoff with DETACH + DROP instead of deleting their rows.

Why our own few statements rather than pg_partman: the rules are two (create ahead, drop behind),
they run inside the scheduler that already runs every other job, and an extension would have to be
installed into every database, including managed ones that do not offer it.

- :func:`partition_by_month` turns an existing table into a partitioned one (a migration calls it;
  rows, indexes, sequences, triggers and outgoing foreign keys come along). PostgreSQL requires the
  partition column in every unique index and in the primary key, so they gain it; a foreign key
  *to* the table cannot exist any more, and is dropped (the caller says what replaces it).
- :func:`ensure_months`, :func:`months_of`, :func:`drop_month`, :func:`maintain`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import peewee as pw

from .db import is_postgres, utcnow

#: months created ahead of the current one by ``core:partitions`` (and by the conversion)
MONTHS_AHEAD = 3

_MONTH = re.compile(r"_(\d{4})_(\d{2})$")
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Month:
    """One monthly partition: its table name and its range ``[lower, upper)``."""

    name: str
    lower: dt.datetime
    upper: dt.datetime


def month_start(day: dt.date, offset: int = 0) -> dt.date:
    """The first day of the month ``offset`` months after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + offset
    return dt.date(index // 12, index % 12 + 1, 1)


def quoted(name: str) -> str:
    """``name`` as a quoted SQL identifier (names come from the catalogue or a model, never from
    input; quoting keeps odd ones intact)."""
    return '"' + name.replace('"', '""') + '"'


def partition_column(db: pw.Database, table: str) -> str | None:
    """The column ``table`` is range-partitioned on; None when it is not (or is partitioned
    otherwise, or on several columns), and always on SQLite."""
    if not is_postgres(db):
        return None
    row = db.execute_sql(
        "SELECT pt.partstrat, pt.partnatts, a.attname FROM pg_partitioned_table pt "
        "JOIN pg_class c ON c.oid = pt.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0] "
        "WHERE c.relname = %s AND n.nspname = current_schema()",
        (table,),
    ).fetchone()
    if row is None or row[0] != "r" or row[1] != 1:
        return None
    return row[2]


def monthly_tables(db: pw.Database) -> list[str]:
    """The tables of this schema partitioned by month the way this module does it (a ``_default``
    partition beside them): the core's and any plugin's."""
    if not is_postgres(db):
        return []
    rows = db.execute_sql(
        "SELECT p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = p.relname || '_default' ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows if partition_column(db, name)]


def months_of(db: pw.Database, table: str) -> list[Month]:
    """The monthly partitions of ``table``, oldest first (not the default one; none on SQLite)."""
    if not is_postgres(db):
        return []
    rows = db.execute_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE p.relname = %s AND n.nspname = current_schema()",
        (table,),
    ).fetchall()
    months = []
    for name, bound in rows:
        found = _BOUNDS.search(bound or "")  # the DEFAULT partition has no bounds
        if found is None:
            continue
        lower, upper = (_naive(dt.datetime.fromisoformat(v)) for v in found.groups())
        months.append(Month(name, lower, upper))
    return sorted(months, key=lambda m: m.lower)


def _naive(moment: dt.datetime) -> dt.datetime:
    # bounds of a timestamptz column print with an offset; the application's clock is naive UTC
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def ensure_months(db: pw.Database, table: str, first: dt.date, last: dt.date) -> list[str]:
    """Create the monthly partitions of ``table`` covering ``first`` .. ``last`` that are missing,
    each with the rows the default partition held for its month; returns the names created."""
    column = partition_column(db, table)
    if column is None:
        return []
    have = {m.name for m in months_of(db, table)}
    created = []
    month = month_start(first)
    while month <= last:
        following = month_start(month, 1)
        name = f"{table}_{month:%Y_%m}"
        if name not in have:
            default = quoted(table + "_default")
            with db.atomic():
                db.execute_sql(
                    f"CREATE TABLE {quoted(name)} (LIKE {quoted(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                )
                # rows already in the default partition for this month must move, or ATTACH fails;
                # a move is no delete, so the table's own triggers (the audit log refuses deletes)
                # stay out of it: disabled in this transaction only, under its exclusive lock
                db.execute_sql(f"ALTER TABLE {default} DISABLE TRIGGER USER")
                db.execute_sql(
                    f"WITH moved AS (DELETE FROM {default} WHERE {quoted(column)} >= %s "
                    f"AND {quoted(column)} < %s RETURNING *) INSERT INTO {quoted(name)} SELECT * FROM moved",
                    (month, following),
                )
                db.execute_sql(f"ALTER TABLE {default} ENABLE TRIGGER USER")
                db.execute_sql(
                    f"ALTER TABLE {quoted(table)} ATTACH PARTITION {quoted(name)} "
                    f"FOR VALUES FROM ('{month}') TO ('{following}')"
                )
            created.append(name)
        month = following
    return created


def drop_month(db: pw.Database, table: str, name: str) -> None:
    """Detach the partition ``name`` of ``table`` and drop it, in one transaction: its rows go at
    once, without the per-row work (and the row triggers) of a DELETE."""
    with db.atomic():
        db.execute_sql(f"ALTER TABLE {quoted(table)} DETACH PARTITION {quoted(name)}")
        db.execute_sql(f"DROP TABLE {quoted(name)}")


def maintain(
    db: pw.Database, today: dt.date | None = None, ahead: int = MONTHS_AHEAD
) -> dict[str, list[str]]:
    """The job ``core:partitions``: this month and ``ahead`` more for every monthly-partitioned
    table; returns ``{table: [partitions created]}`` (only tables that gained one)."""
    today = today or utcnow().date()
    created = {}
    for table in monthly_tables(db):
        names = ensure_months(db, table, month_start(today), month_start(today, ahead))
        if names:
            created[table] = names
    return created


# --- turning a table into a partitioned one ------------------------------------------------------


def partition_by_month(db: pw.Database, table: str, column: str, today: dt.date | None = None) -> bool:
    """Turn ``table`` into one range-partitioned by month on ``column``, keeping its rows, columns,
    defaults (and the sequence behind its id), indexes, triggers and foreign keys to other tables.
    Unique indexes and the primary key gain ``column`` (PostgreSQL's rule for partitioned tables);
    foreign keys from other tables to this one are dropped (no longer possible). Run inside the
    migration's transaction. Returns False (and does nothing) on SQLite or when already done."""
    if not is_postgres(db) or partition_column(db, table) is not None:
        return False
    parts = _definition(db, table)
    old = f"{table}__unpartitioned"
    for child, name in parts["incoming"]:
        db.execute_sql(f"ALTER TABLE {quoted(child)} DROP CONSTRAINT {quoted(name)}")
    for name, _ in parts["indexes"]:
        db.execute_sql(f"DROP INDEX {quoted(name)}")
    db.execute_sql(f"ALTER TABLE {quoted(table)} DROP CONSTRAINT {quoted(parts['pk_name'])}")
    for name, _ in parts["outgoing"]:
        db.execute_sql(f"ALTER TABLE {quoted(table)} DROP CONSTRAINT {quoted(name)}")
    db.execute_sql(f"ALTER TABLE {quoted(table)} RENAME TO {quoted(old)}")
    db.execute_sql(
        f"CREATE TABLE {quoted(table)} (LIKE {quoted(old)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        f"PARTITION BY RANGE ({quoted(column)})"
    )
    key = [c for c in parts["pk"] if c != column] + [column]
    db.execute_sql(
        f"ALTER TABLE {quoted(table)} ADD CONSTRAINT {quoted(parts['pk_name'])} "
        f"PRIMARY KEY ({', '.join(quoted(c) for c in key)})"
    )
    for sequence in parts["sequences"]:
        # the id keeps counting where it was; owned by the old table, it would go with it
        db.execute_sql(
            f"ALTER SEQUENCE {sequence} OWNED BY {quoted(table)}.{quoted(parts['sequences'][sequence])}"
        )
    db.execute_sql(f"CREATE TABLE {quoted(table + '_default')} PARTITION OF {quoted(table)} DEFAULT")
    today = today or utcnow().date()
    # the months that hold rows, and those ahead; rows of any other month land in the default
    held = db.execute_sql(
        f"SELECT DISTINCT date_trunc('month', {quoted(column)})::date FROM {quoted(old)} "
        f"WHERE {quoted(column)} IS NOT NULL"
    ).fetchall()
    for (month,) in held:
        ensure_months(db, table, month, month)
    ensure_months(db, table, month_start(today), month_start(today, MONTHS_AHEAD))
    db.execute_sql(f"INSERT INTO {quoted(table)} SELECT * FROM {quoted(old)}")
    db.execute_sql(f"DROP TABLE {quoted(old)}")
    for _name, definition in parts["indexes"]:
        db.execute_sql(_with_column(definition, column))
    for name, definition in parts["outgoing"]:
        db.execute_sql(f"ALTER TABLE {quoted(table)} ADD CONSTRAINT {quoted(name)} {definition}")
    for definition in parts["triggers"]:
        db.execute_sql(definition)
    return True


def _definition(db: pw.Database, table: str) -> dict:
    """What :func:`partition_by_month` must carry over, read from the catalogue before it starts."""
    oid = db.execute_sql("SELECT %s::regclass::oid", (quoted(table),)).fetchone()[0]

    def rows(sql: str) -> list[tuple]:
        return db.execute_sql(sql, (oid,)).fetchall()

    pk = rows(
        "SELECT c.conname, a.attname FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) "
        "WHERE c.conrelid = %s AND c.contype = 'p' ORDER BY array_position(c.conkey, a.attnum)"
    )
    return {
        "pk_name": pk[0][0],
        "pk": [column for _name, column in pk],
        "indexes": rows(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s AND NOT x.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        ),
        "outgoing": rows(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s AND contype = 'f'"
        ),
        "incoming": rows(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE confrelid = %s AND contype = 'f' AND conrelid <> confrelid"
        ),
        "triggers": [
            definition
            for (definition,) in rows(
                "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal"
            )
        ],
        "sequences": {
            sequence: column
            for sequence, column in rows(
                "SELECT pg_get_serial_sequence(attrelid::regclass::text, attname), attname "
                "FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped"
            )
            if sequence
        },
    }


def _with_column(definition: str, column: str) -> str:
    """A unique index definition with ``column`` added to its key (PostgreSQL requires the
    partition column in every unique index of a partitioned table); others unchanged."""
    if not definition.startswith("CREATE UNIQUE INDEX"):
        return definition
    head, sep, rest = definition.partition(" USING btree (")
    keys, close, tail = rest.partition(")")
    if column in [k.strip().strip('"') for k in keys.split(",")]:
        return definition
    return f"{head}{sep}{keys}, {quoted(column)}{close}{tail}"
