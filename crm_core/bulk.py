"""Inserts straight to the driver: bulk ones for imports and seeding, single ones on hot paths.

peewee's ``insert_many`` builds its SQL node by node, which costs more than the database's own work
once chunks hold thousands of rows. ``insert_rows`` keeps peewee for what matters (table and column
names, each field's ``db_value`` conversion, e.g. JSON) and hands the rows to the driver:
``psycopg2.extras.execute_values`` on PostgreSQL (one multi-row INSERT ... RETURNING id),
``executemany`` on SQLite (ids read back in insertion order, which SQLite's single writer makes
safe inside the caller's transaction).

``insert_one`` is the single-row form for paths that run on every write (the audit entry, the
outbox event, the idempotency key): its SQL is built once per table and column list, and
statements that must run just before it (``before``) travel in the same round trip on
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
from collections.abc import Sequence

import peewee as pw

from .db import database, is_postgres


def insert_rows(
    model: type[pw.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence],
    *,
    ignore_conflicts: bool = False,
    returning: bool = True,
) -> list[int]:
    """Insert ``rows`` (tuples in ``fields`` order) into ``model``; returns the new ids in row order.

    Columns not named in ``fields`` get their field's default (evaluated once per call, so one
    ``created_at`` for the chunk).

    Call inside ``database.atomic()``. With ``ignore_conflicts`` rows that hit a unique index are
    skipped (their ids are simply absent). ``returning=False``: the ids are not read (an empty
    list), and on PostgreSQL the rows go in with ``COPY``, several times cheaper than a multi-row
    INSERT for the driver to build (the audit entries and outbox rows of an import). Nothing here
    is audited: callers that insert business records report them with ``changes.record_written``.
    """
    if not rows:
        return []
    meta = model._meta
    defaults = _defaults(meta, fields)  # once per call: one created_at for the chunk
    if defaults:
        fields = [*fields, *defaults]
        rows = [(*row, *defaults.values()) for row in rows]
    columns = [meta.fields[name] for name in fields]
    table = meta.table_name
    names = ", ".join(f'"{f.column_name}"' for f in columns)
    pk = meta.primary_key.column_name
    converted = [tuple(_db_value(f, v) for f, v in zip(columns, row, strict=True)) for row in rows]
    db = database.obj
    if is_postgres(db) and not returning and not ignore_conflicts:
        _copy(db, table, [f.column_name for f in columns], converted)
        return []
    if is_postgres(db):
        from psycopg2.extras import execute_values

        conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        sql = f'INSERT INTO "{table}" ({names}) VALUES %s{conflict} RETURNING "{pk}"'
        cursor = db.cursor()
        result = execute_values(cursor, sql, converted, page_size=len(converted), fetch=True)
        return [r[0] for r in result]
    # the stdlib's implicit date/Decimal adapters are deprecated: pass text, as peewee stores it
    converted = [tuple(_sqlite_value(v) for v in row) for row in converted]
    verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
    marks = ", ".join("?" for _ in columns)
    if not returning:
        db.cursor().executemany(f'{verb} INTO "{table}" ({names}) VALUES ({marks})', converted)
        return []
    before = db.execute_sql(f'SELECT COALESCE(MAX("{pk}"), 0) FROM "{table}"').fetchone()[0]
    db.cursor().executemany(f'{verb} INTO "{table}" ({names}) VALUES ({marks})', converted)
    cursor = db.execute_sql(f'SELECT "{pk}" FROM "{table}" WHERE "{pk}" > ? ORDER BY "{pk}"', (before,))
    return [r[0] for r in cursor.fetchall()]


def _defaults(meta, given) -> dict:
    """The field defaults of the columns not in ``given``, evaluated now, as peewee's own inserts
    would give them (the primary key left to the database)."""
    return {
        name: f.default() if callable(f.default) else f.default
        for name, f in meta.fields.items()
        if name not in given and f.default is not None and f is not meta.primary_key
    }


#: (dialect, table, columns) -> the INSERT of one row
_ONE_ROW: dict[tuple, str] = {}


def insert_one(
    model: type[pw.Model],
    values: dict,
    *,
    before: Sequence[tuple[str, Sequence]] = (),
    defer: bool = False,
) -> int | None:
    """Insert one row of ``model`` (``values`` by field name, each converted by its field; field
    defaults for the rest, as peewee would give them); returns its id.

    ``before``: statements ``(sql, params)`` to run first, in order, in the same transaction; on
    PostgreSQL they are sent with the INSERT as one round trip (their results are not read).
    ``defer``: on PostgreSQL inside a transaction, the INSERT (and ``before``) waits and goes out
    with the transaction's next statement or its COMMIT (``pgpool.PooledPostgres.defer``); the
    id is not read (None), and an error surfaces with that statement. For rows written beside a
    write that nobody reads back in it: its audit entry, its outbox event. Call inside the
    caller's transaction when ``before`` is given. Nothing here is audited."""
    meta = model._meta
    values = {**values, **_defaults(meta, values)}
    fields = [meta.fields[name] for name in values]
    row = [_db_value(f, v) for f, v in zip(fields, values.values(), strict=True)]
    db = database.obj
    postgres = is_postgres(db)
    key = (postgres, meta.table_name, tuple(values))
    sql = _ONE_ROW.get(key)
    if sql is None:
        names = ", ".join(f'"{f.column_name}"' for f in fields)
        marks = ", ".join(("%s" if postgres else "?") for _ in fields)
        returning = f' RETURNING "{meta.primary_key.column_name}"' if postgres else ""
        sql = _ONE_ROW[key] = f'INSERT INTO "{meta.table_name}" ({names}) VALUES ({marks}){returning}'
    if not postgres:
        for statement, params in before:
            db.execute_sql(statement, params)
        return db.execute_sql(sql, [_sqlite_value(v) for v in row]).lastrowid
    if defer and hasattr(db, "defer") and db.in_transaction():
        plain = sql.rsplit(" RETURNING ", 1)[0]
        db.defer("; ".join(_render(db, s, p) for s, p in (*before, (plain, row))))
        return None
    if not before:
        return db.execute_sql(sql, row).fetchone()[0]
    # one round trip: the statements rendered by the driver, joined (the last one's rows are read);
    # '%' doubled because peewee hands the driver an empty parameter tuple, which still formats
    text = "; ".join(_render(db, s, p) for s, p in (*before, (sql, row)))
    return db.execute_sql(text.replace("%", "%%")).fetchone()[0]


#: COPY's text format: a backslash escapes these (and itself)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "adapted") and hasattr(value, "dumps"):
        # psycopg2's Json: its JSON as text, non-ASCII kept as is (the same JSON once parsed,
        # shorter, and without the backslashes of \\u escapes to double)
        value = _JSON_TEXT(value.adapted)
    text = str(value)
    # translate() looks every character up; most values hold none of the four
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode


def _copy(db, table: str, names: list[str], rows: list[tuple]) -> None:
    """``COPY table (names) FROM STDIN`` of ``rows`` (values as the driver would be given them)."""
    text = "".join("\t".join(map(_copy_text, row)) + "\n" for row in rows)
    columns = ", ".join(f'"{n}"' for n in names)
    db.cursor().copy_expert(f'COPY "{table}" ({columns}) FROM STDIN', io.StringIO(text))


def _render(db, sql: str, params) -> str:
    """``sql`` with ``params`` as the driver sends them (the pool's ``render`` leaves what waits
    for the next statement waiting; another PostgreSQL database's cursor does it too)."""
    render = getattr(db, "render", None)
    return render(sql, params) if render is not None else db.cursor().mogrify(sql, params).decode()


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
