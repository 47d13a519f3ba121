"""The conditions of an automation rule as the rule editor shows them: rows of (field, operator,
value) on the event (its type and data keys), on the customer's fields the actor may see, and on
the customer's event history (how many events of a type, or the total of one of their keys,
within N days), matched all / any. What the rows cannot show (``not``, nested groups, a
``count``/``sum`` with ``where``) is kept as a JSON row, so a rule made through the API loads
faithfully.
"""

from __future__ import annotations

import decimal
import json
import re

from flask_babel import gettext as _

from ..automations import conditions as language
from .automation_editor_actions import shown
from .builder_fields import LIST_OPERATORS, NO_VALUE, BuilderField, split_list
from .formatting import utc_from_input

KEY_RE = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
CONDITION_ROW_RE = re.compile(r"^c-(\d+)-(field|raw)$")


def _history_row(item, catalogue: dict[str, BuilderField]) -> dict | None:
    """A ``count`` / ``sum`` aggregate (without ``where``) as a row, or None."""
    kind = "count" if "count" in item else "sum"
    spec, bf = item.get(kind), catalogue.get(kind)
    allowed = {"event", "within_days"} | ({"field"} if kind == "sum" else set())
    if bf is None or set(item) - {kind, "op", "value"} or not isinstance(spec, dict) or set(spec) - allowed:
        return None
    if item.get("op") not in bf.operator_names or isinstance(item.get("value"), list | dict | bool):
        return None
    if spec.get("event") not in {value for value, _label in bf.choices}:
        return None  # an event type the list does not offer: kept as written
    days = spec.get("within_days")
    return {
        "field": kind,
        "event": spec.get("event", ""),
        "key": spec.get("field", ""),
        "days": "" if days is None else str(days),
        "op": item["op"],
        "values": [shown(item.get("value"))],
    }


def _history_condition(i: int, kind: str, form, row: dict, errors: dict) -> dict | None:
    """The ``count`` / ``sum`` condition of a posted row (errors keyed by its inputs)."""
    event, days, key = form.get(f"c-{i}-event", "").strip(), form.get(f"c-{i}-days", "").strip(), row["key"]
    row.update(event=event, days=days)
    spec: dict = {"event": event}
    if not event:
        errors[f"c-{i}-event"] = [_("Choose an event.")]
    if kind == "sum":
        if not KEY_RE.match(key):
            errors[f"c-{i}-key"] = [_("Give the event data key, e.g. amount or object.lifecycle_stage.")]
        spec["field"] = key
    if days:
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            errors[f"c-{i}-days"] = [_("A whole number of days from 1 to 3650.")]
        else:
            spec["within_days"] = int(days)
    value = (row["values"] or [""])[0]
    try:
        if not decimal.Decimal(value).is_finite():
            raise decimal.InvalidOperation
    except decimal.InvalidOperation:
        errors[f"c-{i}-value"] = [_("Give a number.")]
    if any(k.startswith(f"c-{i}-") for k in errors):
        return None
    return {kind: spec, "op": row["op"], "value": int(value) if value.isdigit() else value}


def _condition_row(item, catalogue: dict[str, BuilderField]) -> dict | None:
    """A field comparison as a row, or None when the rows cannot show it."""
    if isinstance(item, dict) and ("count" in item or "sum" in item):
        return _history_row(item, catalogue)
    if not isinstance(item, dict) or set(item) - {"field", "op", "value"} or "field" not in item:
        return None
    name, op, value = item["field"], item.get("op"), item.get("value")
    key = ""
    if name != "event.type" and isinstance(name, str) and name.startswith("event."):
        name, key = "event.", name[len("event.") :]
    bf = catalogue.get(name)
    if bf is None:
        return None
    if op == "exists":
        op = "exists" if value in (None, True) else "not_exists"
        values = []
    else:
        values = [shown(v) for v in value] if isinstance(value, list) else [shown(value)]
    if op not in bf.operator_names:
        return None
    return {"field": name, "key": key, "op": op, "values": values}


def conditions_to_rows(conditions, catalogue) -> tuple[str, list[dict]]:
    """``(match, rows)``: "and"/"or" and the rows of a stored condition (see module doc)."""
    if not conditions:
        return "and", []
    match, items = "and", [conditions]
    if isinstance(conditions, dict) and set(conditions) in ({"and"}, {"or"}):
        match = next(iter(conditions))
        items = conditions[match] if isinstance(conditions[match], list) else [conditions[match]]
    rows = []
    for i, item in enumerate(items):
        row = _condition_row(item, catalogue)
        rows.append({"index": i, **row} if row else {"index": i, "raw": json.dumps(item, ensure_ascii=False)})
    return match, rows


def conditions_from_form(form, catalogue: dict[str, BuilderField]) -> tuple[dict, str, list[dict], dict]:
    """``(conditions, match, rows, errors)`` from the posted condition rows."""
    match = "or" if form.get("match") == "or" else "and"
    indices = sorted({int(m.group(1)) for key in form if (m := CONDITION_ROW_RE.match(key))})
    items, rows, errors = [], [], {}
    for i in indices:
        if form.get(f"c-{i}-raw") is not None:
            text = form.get(f"c-{i}-raw", "")
            rows.append({"index": i, "raw": text})
            try:
                item = json.loads(text)
                language.validate(item)
            except ValueError:
                errors[f"c-{i}-raw"] = [_("Not a valid condition (JSON of the condition language).")]
                continue
            items.append(item)
            continue
        name = form.get(f"c-{i}-field", "").strip()
        if not name:
            continue
        op, key = form.get(f"c-{i}-op", ""), form.get(f"c-{i}-key", "").strip()
        values = [v.strip() for v in form.getlist(f"c-{i}-value") if v.strip()]
        rows.append({"index": i, "field": name, "key": key, "op": op, "values": values})
        bf = catalogue.get(name)
        if bf is None:
            errors[f"c-{i}-field"] = [_("You cannot use this field in a condition.")]
            continue
        if op not in bf.operator_names:
            errors[f"c-{i}-op"] = [_("Choose an operator.")]
            continue
        if bf.widget in ("count", "sum"):
            item = _history_condition(i, bf.widget, form, rows[-1], errors)
            if item is not None:
                items.append(item)
            continue
        path = name
        if bf.widget == "event":
            if not KEY_RE.match(key):
                errors[f"c-{i}-key"] = [_("Give the event data key, e.g. amount or object.lifecycle_stage.")]
                continue
            path = f"event.{key}"
        if op in NO_VALUE:
            items.append({"field": path, "op": "exists", "value": op == "exists"})
            continue
        if op in LIST_OPERATORS and bf.widget not in ("select", "multiselect"):
            values = [part for v in values for part in split_list(v)]
        if not values:
            errors[f"c-{i}-value"] = [_("Give a value.")]
            continue
        if bf.widget in ("number", "decimal"):
            try:
                for v in values:
                    if not decimal.Decimal(v).is_finite():
                        raise decimal.InvalidOperation
            except decimal.InvalidOperation:
                errors[f"c-{i}-value"] = [_("Give a number.")]
                continue
        if bf.widget == "datetime":  # typed in the user's time zone; stored times are UTC
            values = [utc_from_input(v) for v in values]
        if bf.widget == "bool":
            value = values[0] == "true"
        elif op in LIST_OPERATORS:
            value = values
        else:
            value = values[0]
        items.append({"field": path, "op": op, "value": value})
    if not items:
        conditions = {}
    elif len(items) == 1:
        conditions = items[0]
    else:
        conditions = {match: items}
    return conditions, match, rows, errors
