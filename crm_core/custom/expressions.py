"""SQL expressions over custom-field values, and the indexes that make them fast.

``custom_expression(model, name)`` renders the typed extraction of one key of ``custom``:

- int, reference: SQLite ``CAST(json_extract(custom, '$.n') AS INTEGER)``;
  PostgreSQL (``custom`` is ``jsonb``) ``CAST((custom ->> 'n') AS BIGINT)``
- decimal (stored as exact text): ``CAST(... AS REAL)`` / ``CAST(... AS NUMERIC)``
- bool: ``json_extract(...)`` (1/0) / ``CAST(... AS BOOLEAN)``
- multi-choice: the array's JSON text for sorts and ``contains``; equality and ``IN`` test
  membership (``json_each`` / ``custom -> 'n' @> '["v"]'``, which a GIN index serves)
- every other type: ``json_extract(...)`` / ``(custom ->> 'n')`` as text

Dates and datetimes are stored as fixed-width ISO text, so text order is time order. The key is
written as a literal (names are ``[a-z][a-z0-9_]*``), which keeps the SQL identical to the
expression index :func:`ensure_index` creates for a filterable field, so both planners use it.
Comparison operators coerce their right-hand side through the field's type (``"500"`` -> 500,
``"2026-01-01"`` -> the stored datetime text), so the list API can pass query-string values.
"""

from __future__ import annotations

import hashlib

import peewee as pw
from peewee import OP, SQL, ColumnBase, Expression, NodeList, fn

from ..db import is_postgres
from ..errors import APIError
from .extensible import entity_of_model
from .fielddefs import FieldDef, get_field


def _key(name: str) -> SQL:
    return SQL(f"'{name}'")


def raw_expression(column, fd: FieldDef, postgres: bool):
    """The typed extraction of ``fd`` from the JSON ``column`` (a field or an SQL column)."""
    if postgres:
        text = NodeList((column, SQL("->>"), _key(fd.name)), glue=" ", parens=True)
        cast = {"int": "BIGINT", "reference": "BIGINT", "decimal": "NUMERIC", "bool": "BOOLEAN"}.get(fd.type)
        return pw.Cast(text, cast) if cast else text
    extracted = fn.json_extract(column, SQL(f"'$.{fd.name}'"))
    cast = {"int": "INTEGER", "reference": "INTEGER", "decimal": "REAL"}.get(fd.type)
    return pw.Cast(extracted, cast) if cast else extracted


def jsonb_path(column, fd: FieldDef):
    """PostgreSQL: the jsonb value of ``fd`` (multi-choice containment and its GIN index)."""
    return NodeList((column, SQL("->"), _key(fd.name)), glue=" ", parens=True)


class CustomExpression(ColumnBase):
    """A custom field's value as a peewee column: usable in ``where``, ``order_by`` and selects."""

    def __init__(self, model, fd: FieldDef, postgres: bool):
        super().__init__()
        self.model = model
        self.fd = fd
        self.postgres = postgres
        self.expr = raw_expression(model.custom, fd, postgres)

    def __sql__(self, ctx):
        return ctx.sql(self.expr)

    def _value(self, rhs):
        if isinstance(rhs, pw.Node) or rhs is None:
            return rhs
        value = self.fd.to_python(rhs)
        if self.fd.type == "decimal" and not self.postgres:
            return float(value)  # sqlite3 has no Decimal adapter; the column is REAL here
        return value

    def _cmp(op):
        def inner(self, rhs):
            if self.fd.type == "multi-choice" and op in (OP.EQ, OP.NE):
                expr = self.contains(rhs)
                return expr if op == OP.EQ else ~expr
            if rhs is None:
                return Expression(self.expr, OP.IS if op == OP.EQ else OP.IS_NOT, None)
            return Expression(self.expr, op, self._value(rhs))

        return inner

    __eq__ = _cmp(OP.EQ)
    __ne__ = _cmp(OP.NE)
    __lt__ = _cmp(OP.LT)
    __le__ = _cmp(OP.LTE)
    __gt__ = _cmp(OP.GT)
    __ge__ = _cmp(OP.GTE)
    __hash__ = object.__hash__

    def in_(self, values):
        """``value IN (...)``; on a multi-choice field: has any of the values."""
        values = list(values)
        if self.fd.type == "multi-choice":
            if not values:
                return SQL("1 = 0")
            expr = self.contains(values[0])
            for value in values[1:]:
                expr = expr | self.contains(value)
            return expr
        return Expression(self.expr, OP.IN, [self._value(v) for v in values])

    def not_in(self, values):
        """``value NOT IN (...)``."""
        if self.fd.type == "multi-choice":
            return ~self.in_(values)
        return Expression(self.expr, OP.NOT_IN, [self._value(v) for v in values])

    def is_null(self, is_null=True):
        """Missing key, JSON null and SQL null alike."""
        return Expression(self.expr, OP.IS if is_null else OP.IS_NOT, None)

    def contains(self, rhs):
        """Text: case-insensitive substring. Multi-choice: the list holds ``rhs``."""
        if self.fd.type != "multi-choice":
            return super().contains(str(rhs))
        value = str(rhs)
        if self.postgres:
            import json

            return Expression(
                jsonb_path(self.model.custom, self.fd), "@>", pw.Cast(json.dumps([value]), "jsonb")
            )
        each = fn.json_each(self.model.custom, SQL(f"'$.{self.fd.name}'"))
        sub = pw.Select(from_list=[each], columns=[SQL("1")]).where(SQL("value") == value)
        return fn.EXISTS(sub)


def custom_expression(model, name: str) -> CustomExpression:
    """A peewee expression for the custom field ``name`` of ``model``, typed for comparison and
    ordering on SQLite (``json_extract``) and PostgreSQL (``jsonb``).

    ``custom_expression(Customer, "credit_score") >= "500"``, ``.desc()``, ``.in_([...])``,
    ``.contains(...)``, ``.is_null()``. Raises ``APIError(400)`` naming ``name`` when the entity
    of ``model`` has no such live custom field.
    """
    entity = entity_of_model(model)
    fd = get_field(entity, name)
    if fd is None:
        raise APIError(400, f"Unknown field {name!r} of {entity}.", errors={name: ["Unknown field."]})
    return CustomExpression(model, fd, is_postgres())


# --- indexes -------------------------------------------------------------------------------------


def index_name(model, fd: FieldDef, unique: bool = False) -> str:
    """A stable index name within PostgreSQL's 63 characters."""
    scope = getattr(model, "crm_type", None) or model._meta.table_name
    base = f"{'cfu' if unique else 'cf'}_{scope}_{fd.name}"
    if len(base) > 60:
        base = base[:50] + "_" + hashlib.sha1(base.encode()).hexdigest()[:8]
    return base


def _index_sql(model, fd: FieldDef, unique: bool) -> str:
    db = model._meta.database
    postgres = is_postgres()
    table = model._meta.table_name
    gin = postgres and fd.type == "multi-choice" and not unique
    expr = jsonb_path(SQL('"custom"'), fd) if gin else raw_expression(SQL('"custom"'), fd, postgres)
    ctx = db.get_sql_context()
    expr_sql, params = ctx.sql(expr).query()
    assert not params, "index expressions are literal"
    using = "USING GIN " if gin else ""
    where = f" WHERE \"type\" = '{model.crm_type}'" if getattr(model, "crm_type", None) else ""
    kind = "UNIQUE INDEX" if unique else "INDEX"
    return (
        f'CREATE {kind} IF NOT EXISTS "{index_name(model, fd, unique)}" ON "{table}" '
        f"{using}(({expr_sql})){where}"
    )


def ensure_index(model, fd: FieldDef, unique: bool = False) -> str:
    """Create the expression index of a filterable field (GIN on PostgreSQL for multi-choice), or
    the unique index of a unique field; returns its name. Idempotent."""
    model._meta.database.execute_sql(_index_sql(model, fd, unique))
    return index_name(model, fd, unique)


def drop_index(model, fd: FieldDef, unique: bool = False) -> None:
    """Drop the index :func:`ensure_index` made, if any."""
    model._meta.database.execute_sql(f'DROP INDEX IF EXISTS "{index_name(model, fd, unique)}"')


def sync_indexes(model, fd: FieldDef | None, old: FieldDef | None = None) -> None:
    """Bring the indexes of one field in line with its definition (``fd`` None: it was deleted)."""
    reference = fd or old
    if reference is None:
        return
    if old is not None and (fd is None or old.type != fd.type or not fd.filterable):
        drop_index(model, old)
    if old is not None and (fd is None or old.type != fd.type or not fd.unique):
        drop_index(model, old, unique=True)
    if fd is not None and fd.filterable:
        ensure_index(model, fd)
    if fd is not None and fd.unique:
        ensure_index(model, fd, unique=True)
