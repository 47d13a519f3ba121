"""Keyset pages (``?after=<cursor>``) and counts that stop at a cap: lists whose cost does not
grow with the page number or the table.

A page number is an OFFSET, which the database walks past row by row (page 40,000 reads 800,000
rows to throw away), and an exact total counts every matching row on every request. So:

- ``X-Pagination.next_after`` is an opaque cursor for the page after this one (when this page is
  full and its sort allows it); ``?after=<cursor>`` answers that page with a WHERE on the sort key
  (``(created_at, id) < (...)``), which the index of the sort serves directly. The cursor is
  signed with the app's secret and names its sort: one altered, made for another sort or another
  collection answers 400 (``errors.after``) in the caller's language. Sorting by a field that may
  be empty (a nullable column, a custom field) pages by number only.
- :func:`capped_count` counts up to ``LIST_COUNT_CAP`` rows (default 10,000), or up to the end of
  the page asked for when that lies further; past it the total is a lower bound (``Total.at_least``,
  ``X-Pagination.total_at_least: true``).
"""

from __future__ import annotations

import datetime as dt
import decimal

import peewee as pw
from flask import current_app, has_app_context
from itsdangerous import BadSignature, URLSafeSerializer

from ..errors import APIError

CURSOR_SALT = "crm-list-cursor"
DEFAULT_COUNT_CAP = 10_000


class Total(int):
    """A list's total: an ``int`` (what callers always had), with ``at_least`` True when counting
    stopped at the cap and the value is a lower bound."""

    at_least: bool = False

    def __new__(cls, value: int, at_least: bool = False):
        total = super().__new__(cls, value)
        total.at_least = at_least
        return total


def count_cap() -> int:
    """``LIST_COUNT_CAP`` of the current app (0: count exactly)."""
    if not has_app_context():
        return DEFAULT_COUNT_CAP
    return int(current_app.config.get("LIST_COUNT_CAP", DEFAULT_COUNT_CAP) or 0)


def capped_count(query, reach: int = 0) -> Total:
    """The number of rows of ``query`` (an unordered select), counted up to the cap or to
    ``reach`` (the end of the page asked for), whichever is further: beyond it a lower bound."""
    cap = count_cap()
    if not cap:
        return Total(query.count())
    limit = max(cap, reach) + 1
    counted = query.limit(limit).count()
    if counted >= limit:  # more rows than the cap (and than the page reaches): a lower bound
        return Total(limit - 1, at_least=True)
    return Total(counted)


def _bad(field: str, message: str) -> APIError:
    return APIError(400, f"Invalid query parameter {field!r}: {message}", errors={field: [message]})


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=CURSOR_SALT)


def _keys(ordering: list) -> list[tuple[pw.Field, bool]] | None:
    """``[(column, descending)]`` of ORDER BY terms, or None when one is not a column that is
    never empty (a NULL has no place in a keyset comparison)."""
    keys = []
    for term in ordering:
        node = getattr(term, "node", None)
        if not isinstance(node, pw.Field) or (node.null and not node.primary_key):
            return None
        keys.append((node, str(getattr(term, "direction", "ASC")).upper() == "DESC"))
    return keys


def _spec(resource: str, keys) -> str:
    return resource + ":" + ",".join(("-" if desc else "") + field.name for field, desc in keys)


def _encode(value):
    if isinstance(value, dt.datetime | dt.date | decimal.Decimal):
        return str(value)
    return value


def next_cursor(resource: str, ordering: list, rows: list, page_size: int) -> str | None:
    """The ``after`` cursor of the page following ``rows`` (peewee models in ``ordering``), or
    None when the page is not full or its sort cannot page by key."""
    keys = _keys(ordering)
    if keys is None or not rows or len(rows) < page_size or not has_app_context():
        return None
    last = rows[-1]
    values = [_encode(getattr(last, field.name)) for field, _desc in keys]
    return _serializer().dumps({"s": _spec(resource, keys), "v": values})


def after_condition(resource: str, ordering: list, cursor: str):
    """The WHERE expression of the rows after ``cursor`` in ``ordering``; 400 (``errors.after``)
    for a cursor that is not one of ours, not of this collection and sort, or a sort that
    cannot page by key."""
    keys = _keys(ordering)
    if keys is None:
        raise _bad("after", "This sort cannot be paged with a cursor: use page numbers.")
    try:
        data = _serializer().loads(cursor)
    except (BadSignature, UnicodeDecodeError, ValueError):
        raise _bad("after", "Not a valid cursor: start again from the first page.") from None
    if not isinstance(data, dict) or data.get("s") != _spec(resource, keys):
        raise _bad("after", "This cursor belongs to another list or sort order.")
    raw = data.get("v")
    if not isinstance(raw, list) or len(raw) != len(keys):
        raise _bad("after", "Not a valid cursor: start again from the first page.")
    try:
        values = [field.python_value(value) for (field, _d), value in zip(keys, raw, strict=True)]
    except (TypeError, ValueError, decimal.InvalidOperation):
        raise _bad("after", "Not a valid cursor: start again from the first page.") from None
    if len({desc for _f, desc in keys}) == 1:
        # one direction: a row comparison, which a B-tree index on the sort key serves as a range
        columns = pw.Tuple(*(field for field, _d in keys))
        bound = pw.Tuple(
            *(
                pw.Value(field.db_value(v), converter=False)
                for (field, _d), v in zip(keys, values, strict=True)
            )
        )
        return columns < bound if keys[0][1] else columns > bound
    # mixed directions: (a > x) OR (a = x AND b < y) OR ...
    condition, equal = None, []
    for (field, desc), value in zip(keys, values, strict=True):
        term = (field < value) if desc else (field > value)
        for expr in equal:
            term = term & expr
        condition = term if condition is None else (condition | term)
        equal.append(field == value)
    return condition
