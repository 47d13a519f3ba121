"""Bulk inserts for imports and seeding: one prepared statement per chunk, straight to the driver.

peewee's ``insert_many`` builds its SQL node by node, which costs more than the database's own work
once chunks hold thousands of rows. ``insert_rows`` keeps peewee for what matters (table and column
names, each field's ``db_value`` conversion, e.g. JSON) and hands the rows to the driver:
``psycopg2.extras.execute_values`` on PostgreSQL (one multi-row INSERT ... RETURNING id),
``executemany`` on SQLite (ids read back in insertion order, which SQLite's single writer makes
safe inside the caller's transaction).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Sequence

import peewee as pw

from .db import database, is_postgres


def insert_rows(
    model: type[pw.Model], fields: Sequence[str], rows: Sequence[Sequence], *, ignore_conflicts: bool = False
) -> list[int]:
    """Insert ``rows`` (tuples in ``fields`` order) into ``model``; returns the new ids in row order.

    Columns not named in ``fields`` get their field's default (evaluated once per call, so one
    ``created_at`` for the chunk).

    Call inside ``database.atomic()``. With ``ignore_conflicts`` rows that hit a unique index are
    skipped (their ids are simply absent). Nothing here is audited: callers that insert business
    records report them with ``changes.record_written``.
    """
    if not rows:
        return []
    meta = model._meta
    # columns left out get their field default, as peewee's own inserts would give them
    defaults = {
        name: f.default
        for name, f in meta.fields.items()
        if name not in fields and f.default is not None and f is not meta.primary_key
    }
    if defaults:
        extra = list(defaults)
        values = [d() if callable(d) else d for d in defaults.values()]
        fields = [*fields, *extra]
        rows = [(*row, *values) for row in rows]
    columns = [meta.fields[name] for name in fields]
    table = meta.table_name
    names = ", ".join(f'"{f.column_name}"' for f in columns)
    pk = meta.primary_key.column_name
    converted = [tuple(_db_value(f, v) for f, v in zip(columns, row, strict=True)) for row in rows]
    db = database.obj
    if is_postgres(db):
        from psycopg2.extras import execute_values

        conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        sql = f'INSERT INTO "{table}" ({names}) VALUES %s{conflict} RETURNING "{pk}"'
        cursor = db.cursor()
        result = execute_values(cursor, sql, converted, page_size=len(converted), fetch=True)
        return [r[0] for r in result]
    # the stdlib's implicit date/Decimal adapters are deprecated: pass text, as peewee stores it
    converted = [tuple(_sqlite_value(v) for v in row) for row in converted]
    before = db.execute_sql(f'SELECT COALESCE(MAX("{pk}"), 0) FROM "{table}"').fetchone()[0]
    verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
    marks = ", ".join("?" for _ in columns)
    db.cursor().executemany(f'{verb} INTO "{table}" ({names}) VALUES ({marks})', converted)
    cursor = db.execute_sql(f'SELECT "{pk}" FROM "{table}" WHERE "{pk}" > ? ORDER BY "{pk}"', (before,))
    return [r[0] for r in cursor.fetchall()]


def _db_value(field: pw.Field, value):
    converted = field.db_value(value)
    if isinstance(converted, pw.Node):
        # peewee wraps JSON for SQL it renders itself (json(?)); a driver wants the text
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False)
    return converted


def _sqlite_value(value):
    if isinstance(value, dt.datetime | dt.date | decimal.Decimal):
        return str(value)
    return value
