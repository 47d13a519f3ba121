"""The condition language of automation rules: small, JSON, validated when a rule is saved.

A condition is one of::

    {}                                              always true
    {"and": [c1, c2, ...]}   {"or": [...]}   {"not": c}
    {"field": "event.amount", "op": "gte", "value": "100"}
    {"field": "customer.tags", "op": "contains", "value": "vip"}
    {"count": {"event": "order.paid", "within_days": 30, "where": c}, "op": "gte", "value": 3}
    {"sum": {"event": "order.paid", "field": "amount", "within_days": 30}, "op": "gte", "value": "1000"}

Fields: ``event.type``, ``event.<key>.<key>`` (the event's data), ``customer.<column>``,
``customer.tags`` (list of names), ``customer.custom.<name>``. ``count`` and ``sum`` look at the
customer's event history (the outbox): events of that type in the last ``within_days`` days
(including the triggering event), optionally filtered by ``where`` (fields ``event.*`` refer to
each counted event). Operators: ``eq ne gt gte lt lte in not_in contains not_contains
startswith exists``. Numbers and numeric strings compare as decimals (money stays exact).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, has_app_context

from ..custom.sealed import encrypted_fields

OPERATORS = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "startswith",
    "exists",
)
MAX_DEPTH = 10
MAX_WITHIN_DAYS = 3650


class ConditionError(ValueError):
    """A malformed condition; ``errors`` lists ``"<path>: <problem>"`` messages."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def validate(condition: Any) -> None:
    """Raise ``ConditionError`` listing every problem of ``condition`` (with its path)."""
    errors: list[str] = []
    _check(condition, "conditions", errors, 0)
    if errors:
        raise ConditionError(errors)


def _check(cond, path: str, errors: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        errors.append(f"{path}: nested deeper than {MAX_DEPTH}")
        return
    if cond is None or cond == {}:
        return
    if not isinstance(cond, dict):
        errors.append(f"{path}: must be an object")
        return
    for key in ("and", "or"):
        if key in cond:
            if set(cond) != {key}:
                errors.append(f"{path}: '{key}' cannot be combined with other keys")
            elif not isinstance(cond[key], list) or not cond[key]:
                errors.append(f"{path}.{key}: must be a non-empty list")
            else:
                for i, sub in enumerate(cond[key]):
                    _check(sub, f"{path}.{key}[{i}]", errors, depth + 1)
            return
    if "not" in cond:
        if set(cond) != {"not"}:
            errors.append(f"{path}: 'not' cannot be combined with other keys")
        else:
            _check(cond["not"], f"{path}.not", errors, depth + 1)
        return
    kinds = [k for k in ("field", "count", "sum") if k in cond]
    if len(kinds) != 1:
        errors.append(f"{path}: needs one of 'field', 'count', 'sum', 'and', 'or', 'not'")
        return
    unknown = set(cond) - {kinds[0], "op", "value"}
    if unknown:
        errors.append(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    op = cond.get("op")
    if op not in OPERATORS:
        errors.append(f"{path}.op: must be one of {', '.join(OPERATORS)}")
    elif op != "exists" and "value" not in cond:
        errors.append(f"{path}.value: required for '{op}'")
    elif op in ("in", "not_in") and not isinstance(cond.get("value"), list):
        errors.append(f"{path}.value: must be a list for '{op}'")
    if kinds[0] == "field":
        name = cond["field"]
        if not isinstance(name, str) or not (
            name == "event.type" or name.startswith(("event.", "customer."))
        ):
            errors.append(f"{path}.field: must start with 'event.' or 'customer.'")
        elif name.count(".") < 1 or "" in name.split("."):
            errors.append(f"{path}.field: not a dotted path")
        elif _encrypted_customer_field(name):
            # conditions run on stored images, where the value is a token: it would never match
            errors.append(f"{path}.field: an encrypted field cannot be used in a condition")
        return
    spec = cond[kinds[0]]
    if not isinstance(spec, dict):
        errors.append(f"{path}.{kinds[0]}: must be an object")
        return
    allowed = {"event", "within_days", "where"} | ({"field"} if kinds[0] == "sum" else set())
    if set(spec) - allowed:
        errors.append(f"{path}.{kinds[0]}: unknown key(s) {', '.join(sorted(set(spec) - allowed))}")
    if not isinstance(spec.get("event"), str) or not spec["event"]:
        errors.append(f"{path}.{kinds[0]}.event: an event type is required")
    days = spec.get("within_days")
    limit = _window_limit()
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= limit):
        errors.append(
            f"{path}.{kinds[0]}.within_days: a whole number from 1 to {limit} "
            "(the outbox keeps events that long: OUTBOX_RETENTION_DAYS)"
        )
    if kinds[0] == "sum" and (not isinstance(spec.get("field"), str) or not spec["field"]):
        errors.append(f"{path}.sum.field: the data key to add up is required (e.g. 'amount')")
    if "where" in spec:
        _check(spec["where"], f"{path}.{kinds[0]}.where", errors, depth + 1)


def _window_limit() -> int:
    """The longest window a count or sum may look back: events older than the outbox's
    retention are gone, so a longer window would count too few without saying so."""
    if not has_app_context():
        return MAX_WITHIN_DAYS
    return min(MAX_WITHIN_DAYS, int(current_app.config.get("OUTBOX_RETENTION_DAYS") or MAX_WITHIN_DAYS))


def _encrypted_customer_field(name: str) -> bool:
    parts = name.split(".")
    if len(parts) != 3 or parts[:2] != ["customer", "custom"] or not has_app_context():
        return False  # outside an app (unit tests of the grammar) there are no definitions
    return parts[2] in encrypted_fields("customers")


# --- evaluation --------------------------------------------------------------------------------

_MISSING = object()


@dataclass
class Context:
    """What conditions can see: the event, the customer (a dict, or None) and a history lookup
    ``history(event_type, since) -> [data dicts]`` of the customer's events."""

    event_type: str
    data: dict
    customer: dict | None = None
    history: Callable[[str, dt.datetime | None], list[dict]] | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))


def _lookup(obj: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return _MISSING
    return obj


def resolve(name: str, ctx: Context) -> Any:
    """The value a field path names (``_MISSING`` when absent)."""
    root, *rest = name.split(".")
    if root == "event":
        if rest == ["type"]:
            return ctx.event_type
        return _lookup(ctx.data, rest)
    if ctx.customer is None:
        return _MISSING
    return _lookup(ctx.customer, rest)


def _number(value: Any) -> decimal.Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | decimal.Decimal):
        return decimal.Decimal(str(value))
    if isinstance(value, str):
        try:
            number = decimal.Decimal(value.strip())
        except decimal.InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _equal(a: Any, b: Any) -> bool:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    return a == b


def compare(actual: Any, op: str, expected: Any) -> bool:
    """Apply ``op``; a missing value satisfies only ``ne``, ``not_in``, ``not_contains`` and
    ``exists: false``."""
    if op == "exists":
        return (actual is not _MISSING and actual is not None) == bool(
            expected if expected is not None else True
        )
    if actual is _MISSING:
        return op in ("ne", "not_in", "not_contains")
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    if op in ("in", "not_in"):
        found = any(_equal(actual, item) for item in expected)
        return found if op == "in" else not found
    if op in ("contains", "not_contains"):
        if isinstance(actual, list):
            found = any(_equal(item, expected) for item in actual)
        elif isinstance(actual, str) and isinstance(expected, str):
            found = expected.lower() in actual.lower()
        else:
            found = False
        return found if op == "contains" else not found
    if op == "startswith":
        return isinstance(actual, str) and isinstance(expected, str) and actual.startswith(expected)
    na, nb = _number(actual), _number(expected)
    if na is not None and nb is not None:
        a, b = na, nb
    elif isinstance(actual, str) and isinstance(expected, str):
        a, b = actual, expected  # ISO 8601 timestamps and plain strings order as text
    else:
        return False
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def _shown(value: Any) -> Any:
    if value is _MISSING:
        return None
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def evaluate(condition: Any, ctx: Context) -> tuple[bool, dict]:
    """``(result, trace)``: the trace mirrors the condition with each part's actual value and
    result, so the dry-run endpoint and the run log can say why a rule did or did not match."""
    if condition is None or condition == {}:
        return True, {"always": True, "result": True}
    if "and" in condition or "or" in condition:
        key = "and" if "and" in condition else "or"
        traces, result = [], key == "and"
        for sub in condition[key]:
            ok, trace = evaluate(sub, ctx)
            traces.append(trace)
            if key == "and" and not ok:
                result = False
                break  # short-circuit: later parts are not evaluated (nor counted)
            if key == "or" and ok:
                result = True
                break
        return result, {key: traces, "result": result}
    if "not" in condition:
        ok, trace = evaluate(condition["not"], ctx)
        return not ok, {"not": trace, "result": not ok}
    op, expected = condition.get("op"), condition.get("value")
    if "field" in condition:
        actual = resolve(condition["field"], ctx)
        ok = compare(actual, op, expected)
        return ok, {
            "field": condition["field"],
            "op": op,
            "value": expected,
            "actual": _shown(actual),
            "result": ok,
        }
    kind = "count" if "count" in condition else "sum"
    actual = _aggregate(kind, condition[kind], ctx)
    ok = compare(actual, op, expected)
    return ok, {kind: condition[kind], "op": op, "value": expected, "actual": _shown(actual), "result": ok}


def _aggregate(kind: str, spec: dict, ctx: Context) -> Any:
    if ctx.history is None:
        return 0
    since = ctx.now - dt.timedelta(days=spec["within_days"]) if spec.get("within_days") else None
    rows = ctx.history(spec["event"], since)
    where = spec.get("where")
    if where:
        rows = [
            data
            for data in rows
            if evaluate(where, Context(spec["event"], data, ctx.customer, None, ctx.now))[0]
        ]
    if kind == "count":
        return len(rows)
    total = decimal.Decimal(0)
    for data in rows:
        value = _number(_lookup(data, spec["field"].split(".")))
        if value is not None:
            total += value
    return total
