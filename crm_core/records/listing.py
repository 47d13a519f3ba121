"""The list API every collection shares: paging, sorting, search and filters, all in SQL.

Query-string grammar (``list_query`` parses it):

- ``page`` (from 1) and ``page_size`` (1..200, default 20);
- ``sort=-amount,name``: several fields, ``-`` for descending; the id breaks ties so pages are stable;
- ``q=text``: case-insensitive substring search over the collection's text fields; text typed
  like a phone number (``138 0013 8000``, ``138-0013-8000``, ``+86 138 0013 8000``,
  ``0086 13800138000``) also matches the forms phones are stored in (E.164 ``+8613800138000``,
  or the bare digits): :func:`phone_forms`;
- ``<field>=v`` equality, ``<field>__gte|gt|lte|lt|ne=v`` comparisons, ``<field>__in=a,b``,
  ``<field>__contains=text``; ``<field>`` is a column (``owner_id``) or a custom field by its
  plain name (``credit_score__gte=500``); repeated equality filters on one field mean "any of";
- extra named filters a collection adds (``tag=vip`` on customers).

What the caller may see is decided by one ``permissions.view(actor, resource, action)``: its row
scope bounds the rows (for ``export`` also the read scope), and only ``view.searchable`` fields are
known to filters, sort and ``q``: never a field hidden from the caller nor a secret column
(``secret_fields`` of the model, ``secret``, ``password_hash``, ``token_hash``...), since answering
on them would leak their values one character at a time. NUL characters are refused (400).

An unknown field, operator or badly typed value answers 400 naming the field; database errors never
leak SQL. The row scope of the actor is applied first (``View.apply``), and paging
is done with ``.paginate()`` + ``.count()`` (never by slicing the query, which peewee would run
without a LIMIT).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Iterable
from typing import Any

import peewee as pw

from .. import custom, permissions
from ..custom import sealed
from ..errors import APIError
from ..permissions.decision import _names_of, secret_columns
from . import cursors

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
RESERVED = frozenset({"page", "page_size", "sort", "q", "after"})
OPERATORS = ("gte", "gt", "lte", "lt", "ne", "in", "contains")
DEFAULT_SORT = "-created_at"

#: Extra filters a collection adds: name -> function(list of raw values) -> peewee expression.
ExtraFilters = dict[str, Callable[[list[str]], Any]]

_INT_RANGES = {
    pw.BigIntegerField: (-(2**63), 2**63 - 1),
    pw.BigAutoField: (-(2**63), 2**63 - 1),
    pw.IntegerField: (-(2**31), 2**31 - 1),
}


def _bad(field: str, message: str) -> APIError:
    return APIError(400, f"Invalid query parameter {field!r}: {message}", errors={field: [message]})


def page_params(args) -> tuple[int, int]:
    """``(page, page_size)`` from the query string; 400 when out of range or not a number."""
    values = {}
    for name, default, high in (("page", 1, 10**9), ("page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)):
        raw = args.get(name)
        if raw in (None, ""):
            values[name] = default
            continue
        try:
            number = int(raw)
        except (TypeError, ValueError):
            raise _bad(name, "Must be a whole number.") from None
        if not 1 <= number <= high:
            raise _bad(name, f"Must be between 1 and {high}.")
        values[name] = number
    return values["page"], values["page_size"]


def pagination_header(total: int, page: int, page_size: int, next_after: str | None = None) -> dict:
    """The ``X-Pagination`` metadata in flask-smorest's format; ``total_at_least: true`` when
    ``total`` is a lower bound (a ``cursors.Total`` counted up to the cap), ``next_after`` the
    cursor of the next page (``?after=``) when there is one."""
    at_least = bool(getattr(total, "at_least", False))
    meta = {
        "total": int(total),
        "total_pages": max(1, -(-int(total) // page_size)),
        "page": page,
        "page_size": page_size,
    }
    if at_least:  # rows exist beyond the cap and beyond this page (``cursors.capped_count``)
        meta["total_at_least"] = True
        meta["next_page"] = page + 1
    if next_after:
        meta["next_after"] = next_after
    meta["first_page"], meta["last_page"] = 1, meta["total_pages"]
    if page > 1:
        meta["previous_page"] = min(page - 1, meta["total_pages"])
    if page < meta["total_pages"]:
        meta["next_page"] = page + 1
    return meta


def _parse_datetime(raw: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    if value.tzinfo is not None:  # stored as naive UTC
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _parse_bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def coerce_column(field: pw.Field, raw: str) -> Any:
    """Convert a query-string value to the Python type of ``field``; ``ValueError`` when it cannot."""
    target = field.rel_field if isinstance(field, pw.ForeignKeyField) else field
    if raw == "" and field.null and not isinstance(target, pw.CharField | pw.TextField):
        return None
    if isinstance(target, pw.BooleanField):
        return _parse_bool(raw)
    if isinstance(target, pw.IntegerField | pw.AutoField):
        value = int(raw)
        low, high = next(
            (r for cls, r in _INT_RANGES.items() if isinstance(target, cls)), _INT_RANGES[pw.IntegerField]
        )
        if not low <= value <= high:
            raise ValueError("out of range")
        return value
    if isinstance(target, pw.DecimalField):
        value = decimal.Decimal(raw)
        if not value.is_finite():
            raise ValueError("not a finite number")
        if target.max_digits and abs(value) >= 10 ** (target.max_digits - (target.decimal_places or 0)):
            # no stored value reaches it, and rounding it to the column's places would overflow
            raise ValueError("out of range")
        return value
    if isinstance(target, pw.FloatField):
        return float(raw)
    if isinstance(target, pw.DateTimeField):
        return _parse_datetime(raw)
    if isinstance(target, pw.DateField):
        return dt.date.fromisoformat(raw.strip())
    return raw


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def ilike(expr, text: str):
    """Case-insensitive "contains" with LIKE wildcards in ``text`` taken literally."""
    pattern = pw.NodeList((pw.Value(_like_pattern(text)), pw.SQL("ESCAPE '\\'")))
    return pw.Expression(expr, pw.OP.ILIKE, pattern)


def text_fields(model: type[pw.Model]) -> list[pw.Field]:
    """The columns ``q`` searches by default: every CharField and TextField."""
    return [f for f in model._meta.sorted_fields if isinstance(f, pw.CharField | pw.TextField)]


class Fields:
    """Resolves API field names of one collection to expressions (columns, then custom fields).

    Only what ``view.searchable`` allows is known (``view``: the caller's ``permissions.View``);
    without a view, the fields in ``hidden`` and the model's secret columns are left out.
    """

    def __init__(
        self,
        model,
        resource,
        allowed: Iterable[str] | None = None,
        hidden: Iterable[str] = (),
        view=None,
    ):

        self.model = model
        self.resource = resource
        self.view = view
        # a masked field is left out like a hidden one: filtering on it would recover its value
        self.hidden = set(hidden) | (set(view.hidden) | set(view.masked) if view is not None else set())
        self.columns: dict[str, pw.Field] = {}
        for name, field in model._meta.fields.items():
            if isinstance(field, pw.BareField) or type(field).__name__ in ("JSONField", "BinaryJSONField"):
                continue
            self.columns[name] = field
            if isinstance(field, pw.ForeignKeyField):
                self.columns[field.column_name] = field
        if allowed is not None:
            allowed = set(allowed)
            self.columns = {k: v for k, v in self.columns.items() if k in allowed}
        # a field hidden from the caller, or a secret column, cannot be filtered or sorted on: the
        # answers would leak it
        if view is not None:
            keep = {id(f) for f in view.searchable(self.columns.values(), model)}
            self.columns = {k: v for k, v in self.columns.items() if id(v) in keep}
        else:
            left_out = self.hidden | secret_columns(model)
            self.columns = {k: v for k, v in self.columns.items() if not ({k, v.name} & left_out)}
        self._custom = None

    @property
    def custom(self) -> dict:
        """Custom field definitions of this collection by name (loaded once per request)."""
        if self._custom is None:
            self._custom = {}
            if "custom" in self.model._meta.fields:
                self._custom = {
                    d.name: d for d in custom.custom_fields(self.resource) if d.name not in self.hidden
                }
        return self._custom

    def encrypted(self, name: str):
        """The definition of ``name`` when it is an encrypted custom field (found only by exact
        value through its blind index: ``custom.sealed.matching_ids``), else None."""
        definition = self.custom.get(name) if name not in self.columns else None
        return definition if definition is not None and definition.encrypted else None

    def resolve(self, name: str):
        """``(expression, coerce)`` for a field name, or None when unknown."""
        if name in self.columns:
            field = self.columns[name]
            return field, lambda raw, f=field: coerce_column(f, raw)
        definition = self.custom.get(name)
        if definition is not None:
            # every custom field filters and sorts by its plain name (DESIGN section 5);
            # the metadata module parses the value the way it stores it
            return custom.custom_expression(self.model, name), definition.to_python
        return None


def _condition(expr, op: str | None, values: list[Any], raw_contains: str | None = None):
    if op is None:
        if len(values) == 1:
            return expr.is_null() if values[0] is None else expr == values[0]
        return expr.in_(values)
    if op == "in":
        return expr.in_(values)
    if op == "ne":
        return expr.is_null(False) if values[0] is None else ((expr != values[0]) | expr.is_null())
    if op == "contains":
        return ilike(expr, raw_contains)
    return {
        "gte": expr >= values[0],
        "gt": expr > values[0],
        "lte": expr <= values[0],
        "lt": expr < values[0],
    }[op]


def apply_filters(query, fields: Fields, args, *, extra: ExtraFilters | None = None, ignore=()):
    """AND the filters of ``args`` (a MultiDict) into ``query``; 400 naming any unknown field."""
    extra = extra or {}
    skip = RESERVED | set(ignore)
    for key in args:
        raw_values = [v for v in args.getlist(key)]
        if any("\x00" in v for v in raw_values) or "\x00" in key:
            raise _bad(key.replace("\x00", ""), "NUL characters are not allowed.")
        if key in skip:
            continue
        if key in extra:
            query = query.where(extra[key](raw_values))
            continue
        name, _, op = key.rpartition("__") if "__" in key else (key, "", None)
        if op is not None and op not in OPERATORS:
            raise _bad(key, f"Unknown operator {op!r}; use one of {', '.join(OPERATORS)}.")
        resolved = fields.resolve(name)
        if resolved is None:
            raise _bad(key, f"Unknown field {name!r}.")
        expr, coerce = resolved
        if op == "in":
            raw_values = [part for value in raw_values for part in value.split(",") if part != ""]
            if not raw_values:
                raise _bad(key, "Give at least one value.")
        elif op is not None:
            raw_values = raw_values[-1:]
        secret = fields.encrypted(name)
        if secret is not None:
            if op not in (None, "in"):
                raise _bad(key, f"{name!r} is encrypted: only an exact value can be looked up.")
            ids = sealed.matching_ids(fields.model, fields.resource, secret, raw_values)
            query = query.where(fields.model.id.in_(ids))
            continue
        if op == "contains":
            query = query.where(_condition(expr, op, [], raw_contains=raw_values[0]))
            continue
        try:
            values = [coerce(raw) for raw in raw_values]
        except (ValueError, TypeError, decimal.InvalidOperation, ArithmeticError):
            raise _bad(key, f"Not a valid value for {name!r}.") from None
        if op in ("gte", "gt", "lte", "lt", "in") and any(v is None for v in values):
            raise _bad(key, "Give a value.")
        query = query.where(_condition(expr, op, values))
    return query


#: text a person types for a phone number: digits with spaces, dashes, dots, parentheses, a "+"
_PHONE_TYPED = re.compile(r"\+?[\d\s\-().]+")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_CHINA_PREFIXES = ("+86", "0086")


def phone_forms(text: str) -> list[str]:
    """The other spellings a phone number typed as ``text`` is stored under: separators
    removed, ``00`` as ``+``, without a ``+86``/``0086`` prefix, and in E.164 (numbers without
    a country code read in ``DEFAULT_PHONE_REGION``). Empty unless ``text`` looks like a phone
    number (at least five digits and nothing but digits, separators and a leading ``+``)."""
    typed = text.strip()
    if not _PHONE_TYPED.fullmatch(typed):
        return []
    compact = _PHONE_SEPARATORS.sub("", typed)
    if sum(c.isdigit() for c in compact) < 5 or "+" in compact[1:]:
        return []
    forms = {compact}
    if compact.startswith("00"):
        forms.add("+" + compact[2:])
    for prefix in _CHINA_PREFIXES:
        if compact.startswith(prefix) and len(compact) > len(prefix) + 4:
            forms.add(compact[len(prefix) :])
    forms.update(_e164(compact))
    forms.discard(typed)  # searched as typed already
    return sorted(forms)


def _e164(compact: str) -> list[str]:
    import phonenumbers
    from flask import current_app, has_app_context

    region = current_app.config.get("DEFAULT_PHONE_REGION") or "CN" if has_app_context() else "CN"
    number = "+" + compact[2:] if compact.startswith("00") else compact
    try:
        parsed = phonenumbers.parse(number, None if number.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return []
    if not phonenumbers.is_valid_number(parsed):
        return []
    return [phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)]


def apply_search(query, model, text: str | None, search_fields=None, hidden: Iterable[str] = (), view=None):
    """AND a ``q`` search (any of the text fields contains it) into ``query``. Only the fields
    ``view.searchable`` allows are searched (``view``: the caller's ``permissions.View``); without
    a view, fields in ``hidden`` and secret columns are left out. Matching on a hidden or secret
    field would reveal its value."""

    if not text or not text.strip():
        return query
    fields = list(search_fields) if search_fields is not None else text_fields(model)
    if view is not None:
        fields = view.searchable(fields, model)
    else:
        left_out = set(hidden) | secret_columns(model)
        fields = [f for f in fields if not (_names_of(f) & left_out)]
    if not fields:
        raise _bad("q", "This collection has no searchable text fields.")
    condition = None
    for typed in (text.strip(), *phone_forms(text)):
        for field in fields:
            term = ilike(field, typed)
            condition = term if condition is None else (condition | term)
    return query.where(condition)


def order_by(fields: Fields, sort: str | None, default: str = DEFAULT_SORT) -> list:
    """ORDER BY terms for ``sort`` (``-a,b``), ending with the primary key for stable pages."""
    terms, seen = [], set()
    spec = sort if sort not in (None, "") else default
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        descending = part.startswith("-")
        name = part.lstrip("-+")
        resolved = fields.resolve(name)
        if resolved is None or name in seen:
            raise _bad("sort", f"Unknown or repeated sort field {name!r}.")
        if fields.encrypted(name) is not None:
            raise _bad("sort", f"{name!r} is encrypted: it cannot be sorted on.")
        seen.add(name)
        expr = resolved[0]
        terms.append(expr.desc() if descending else expr.asc())
    pk = fields.model._meta.primary_key
    if pk.name not in seen:
        descending = bool(terms) and spec.split(",")[0].strip().startswith("-")
        terms.append(pk.desc() if descending else pk.asc())
    return terms


def list_query(
    model: type[pw.Model],
    resource: str,
    args,
    actor,
    *,
    action: str = "read",
    query=None,
    search_fields=None,
    filter_fields: Iterable[str] | None = None,
    extra_filters: ExtraFilters | None = None,
    default_sort: str = DEFAULT_SORT,
    ignore: Iterable[str] = (),
    paginate: bool = True,
):
    """The page of ``model`` that ``args`` asks for, within ``actor``'s row scope: ``(query, total)``.

    ``args`` is the request's query MultiDict (``request.args``). ``query`` is a base select (for
    joins or a narrower set), defaulting to ``model.select()``; ``action`` is the permission action
    whose scope applies (``export`` for exports). ``search_fields`` lists the columns ``q`` looks in
    (default: every text column); ``filter_fields`` restricts the filterable and sortable columns;
    ``extra_filters`` adds named filters (``{"tag": fn}``); ``ignore`` names query parameters that
    belong to the caller (``format``). With ``paginate=False`` the whole ordered result comes back
    and the total is None (exports stream it).

    Raises ``APIError`` 400 naming the parameter for an unknown field or a bad value, and 403 when
    the actor may not ``action`` the resource at all.
    """

    view = permissions.view(actor, resource, action)
    base = query if query is not None else model.select()
    base = view.apply(base, model=model)
    fields = Fields(model, resource, filter_fields, view=view)
    filtered = apply_filters(base, fields, args, extra=extra_filters, ignore=ignore)
    filtered = apply_search(filtered, model, args.get("q"), search_fields, view=view)
    ordering = order_by(fields, args.get("sort"), default_sort)
    if not paginate:
        return filtered.order_by(*ordering), None
    page, page_size = page_params(args)
    after = args.get("after")
    if after:  # a keyset page: as cheap deep in the list as on its first page
        if args.get("page") not in (None, "", "1"):
            raise _bad("after", "Give either page or after, not both.")
        total = cursors.capped_count(filtered.order_by(), page_size)
        condition = cursors.after_condition(resource, ordering, after)
        return filtered.where(condition).order_by(*ordering).limit(page_size), total
    total = cursors.capped_count(filtered.order_by(), page * page_size)
    return filtered.order_by(*ordering).paginate(page, page_size), total
