"""The automation rule editor: a trigger chosen from the known event types, conditions built as
rows (like segment filters) and actions with inputs for the parameters each one declares.

- Event types (:func:`event_types`): the record events of every resource the actor may read
  (``<noun>.created|updated|deleted``, core and plugin resources and custom objects, named the
  way the write path names them: ``crm_core.changes.Change.event_type``), the documented business
  events, and, for those who may read the event log, every type that has occurred. A pattern
  (``customer.*``) can still be typed.
- Conditions: rows of (field, operator, value) on the event (its type and data keys), on the
  customer's fields the actor may see, and on the customer's event history (how many events of
  a type, or the total of one of their keys, within N days), matched all / any. What the rows
  cannot show (``not``, nested groups, a ``count``/``sum`` with ``where``) is kept as a JSON
  row, so a rule made through the API loads faithfully.
- Actions: every ``crm_actions`` action (core and plugins); the inputs come from each action's
  params schema (a marshmallow schema, or a JSON-Schema-like dict), and the action validates
  them itself on save.

Routes: ``/automations/new`` and ``/automations/<id>/edit``, registered as the editor of
``automations`` (``/records/automations/new|edit`` lead here).
"""

from __future__ import annotations

import decimal
import json
import re
from dataclasses import dataclass, field

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from marshmallow import fields as mf
from marshmallow import validate as mv

from .. import permissions
from .blueprint import bp
from .builder_fields import LIST_OPERATORS, NO_VALUE, BuilderField, condition_fields, split_list
from .editors import register_editor
from .formatting import utc_from_input
from .forms import FormErrors, load, save
from .registry import RESOURCE_LABELS, _localised, get_resource, object_types, value_label
from .session import login_required

OTHER = "__other__"
KEY_RE = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
CONDITION_ROW_RE = re.compile(r"^c-(\d+)-(field|raw)$")
ACTION_ROW_RE = re.compile(r"^a-(\d+)-(type|raw)$")

#: The core actions' labels in the user's language (plugins' labels go through their catalogue).
ACTION_LABELS = {
    "add_tag": _l("Add a tag to the customer"),
    "remove_tag": _l("Remove a tag from the customer"),
    "create_task": _l("Create a task on the customer"),
    "assign_owner": _l("Assign the customer to a user"),
    "send_webhook": _l("Send the event to a webhook subscription"),
}
PARAM_LABELS = {
    "tag": _l("Tag"),
    "subject": _l("Subject"),
    "body": _l("Body"),
    "due_in_hours": _l("Due in (hours)"),
    "assignee": _l("Assignee"),
    "user_id": _l("User"),
    "subscription_id": _l("Webhook subscription"),
}
#: The core actions' parameter descriptions in the user's language (keyed by action, then param).
PARAM_HELP = {
    ("create_task", "assignee"): _l("Who owns the task: the customer's owner or the rule's owner."),
    ("create_task", "due_in_hours"): _l("Hours from the event until the task is due."),
}
PARAM_CHOICE_LABELS = {"customer_owner": _l("the customer's owner"), "rule_owner": _l("the rule's owner")}

#: Business events the core documents (docs/events.md) besides the record events.
BUSINESS_EVENTS = {
    "order.paid": _l("Order paid"),
    "order.refunded": _l("Order refunded"),
    "customer.erased": _l("Customer erased (privacy)"),
    "automation.failed": _l("Automation rule failed"),
    "webhook.failing": _l("Webhook subscription failing"),
    "job.failed": _l("Scheduled job failed"),
}
VERBS = {
    "created": _l("%(what)s · created"),
    "updated": _l("%(what)s · updated"),
    "deleted": _l("%(what)s · deleted"),
}

#: marshmallow's own messages the editor says in the user's language
SCHEMA_MESSAGES = {
    "Missing data for required field.": _l("This field is required."),
    "Not a valid integer.": _l("Give a whole number."),
    "Not a valid number.": _l("Give a number."),
    "Unknown field.": _l("Unknown field."),
}


# --- event types ---------------------------------------------------------------------------------


def _record_noun(resource: str) -> str:
    from ..changes import Change

    return Change(action="create", resource=resource, record_id=None).event_type.rsplit(".", 1)[0]


def event_types(actor) -> list[tuple[str, list[tuple[str, str]]]]:
    """``[(group label, [(event type, label)])]`` of the events a rule may be triggered by
    (worked out once per request: the editor and the rule's page ask several times)."""
    cache = g.setdefault("_crm_event_types", {})
    key = (getattr(actor, "id", None), str(get_locale()))
    if key not in cache:
        cache[key] = _event_types(actor)
    return cache[key]


def _event_types(actor) -> list[tuple[str, list[tuple[str, str]]]]:
    from ..events.models import OutboxEvent

    known = permissions.resources()
    resources = [(r, _(str(RESOURCE_LABELS.get(r) or info.get("label") or r))) for r, info in known.items()]
    resources += object_types()
    records = []
    for resource, label in resources:
        if "*" in resource or resource in ("audit", "oauth_clients"):
            continue
        actions = (known.get(resource) or known.get("objects.*") or {}).get("actions", ())
        if "create" not in actions or not permissions.can(actor, resource, "read"):
            continue
        noun = _record_noun(resource)
        for verb, text in VERBS.items():
            records.append((f"{noun}.{verb}", str(text) % {"what": label}))
    listed = {t for t, _label in records}
    business = [(t, str(label)) for t, label in BUSINESS_EVENTS.items() if t not in listed]
    listed |= {t for t, _label in business}
    groups = [(_("Records"), records), (_("Business events"), business)]
    if permissions.can(actor, "events", "read"):
        seen = OutboxEvent.select(OutboxEvent.type).distinct().order_by(OutboxEvent.type).limit(300)
        occurred = [(row.type, row.type) for row in seen if row.type not in listed]
        if occurred:
            groups.append((_("Events that have occurred"), occurred))
    return groups


def event_label(event_type: str, groups) -> str:
    """The label of a known event type (the type itself for a pattern)."""
    for _group, items in groups:
        for value, label in items:
            if value == event_type:
                return label
    return event_type


# --- action parameters ---------------------------------------------------------------------------


@dataclass
class ParamInput:
    """One parameter input of an action."""

    name: str
    label: str
    widget: str  # text textarea number decimal bool select tags json
    required: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    default: str = ""
    help: str = ""
    suggestions: list[str] = field(default_factory=list)


@dataclass
class ActionForm:
    """An action a rule may take, with its parameter inputs."""

    name: str
    label: str
    plugin: str
    params: list[ParamInput]

    def param(self, name: str) -> ParamInput | None:
        """The input of parameter ``name``."""
        return next((p for p in self.params if p.name == name), None)


def _label(name: str, declared=None) -> str:
    if declared:
        return _localised(declared) if isinstance(declared, dict) else _(str(declared))
    label = PARAM_LABELS.get(name)
    return str(label) if label is not None else name.replace("_", " ").capitalize()


def _choice_label(value) -> str:
    label = PARAM_CHOICE_LABELS.get(value)
    return str(label) if label is not None else value_label(value)


def _marshmallow_input(name: str, fld) -> ParamInput:
    choices = next((list(v.choices) for v in fld.validators if isinstance(v, mv.OneOf)), [])
    if choices:
        widget = "select"
    elif isinstance(fld, mf.Boolean):
        widget = "bool"
    elif isinstance(fld, mf.Integer):
        widget = "number"
    elif isinstance(fld, mf.Float | mf.Decimal):
        widget = "decimal"
    elif isinstance(fld, mf.List):
        widget = "tags"
    elif isinstance(fld, mf.Dict | mf.Nested) or type(fld) is mf.Raw:
        widget = "json"
    else:
        longest = max((v.max or 0 for v in fld.validators if isinstance(v, mv.Length)), default=0)
        widget = "textarea" if longest > 1000 else "text"
    default = fld.load_default
    shown = "" if default is mf.missing_ or callable(default) or default is None else str(default)
    return ParamInput(
        name=name,
        label=_label(name, fld.metadata.get("label")),
        widget=widget,
        required=bool(fld.required),
        choices=[(str(c), _choice_label(c)) for c in choices],
        default=shown,
        help=_(fld.metadata["description"]) if fld.metadata.get("description") else "",
    )


def _json_schema_input(name: str, prop: dict, required: bool) -> ParamInput:
    kind = prop.get("type")
    widget = {
        "integer": "number",
        "number": "decimal",
        "boolean": "bool",
        "array": "tags",
        "object": "json",
    }.get(kind, "text")
    choices = [(str(c), _choice_label(c)) for c in prop.get("enum") or []]
    default = prop.get("default")
    return ParamInput(
        name=name,
        label=_label(name, prop.get("title")),
        widget="select" if choices else widget,
        required=required,
        choices=choices,
        default="" if default is None else str(default),
        help=_(prop["description"]) if prop.get("description") else "",
    )


def _pickers(param: ParamInput, actor) -> None:
    """Users, webhook subscriptions and tags as choices when the actor may read them."""
    from ..auth.models import User
    from ..webhooks.models import WebhookSubscription
    from .builder_fields import tag_names

    if param.name == "user_id" and permissions.can(actor, "users", "read"):
        users = (
            permissions.scoped(User.select(), actor, "users", "read", model=User).order_by(User.id).limit(500)
        )
        param.choices = [(str(u.id), u.name or u.username) for u in users if u.is_active]
        param.widget = "select" if param.choices else param.widget
    elif param.name == "subscription_id" and permissions.can(actor, "webhooks", "read"):
        subs = permissions.scoped(
            WebhookSubscription.select(), actor, "webhooks", "read", model=WebhookSubscription
        )
        param.choices = [(str(s.id), s.url) for s in subs.order_by(WebhookSubscription.id).limit(500)]
        param.widget = "select" if param.choices else param.widget
    elif param.name == "tag":
        param.suggestions = tag_names(actor)


def action_forms(actor) -> list[ActionForm]:
    """Every action rules can use (``crm_actions``), with its parameter inputs."""
    from ..automations.actions import available_actions

    out = []
    for spec in sorted(available_actions().values(), key=lambda s: s.name):
        params: list[ParamInput] = []
        if isinstance(spec.schema, dict):
            required = set(spec.schema.get("required", ()))
            for name, prop in (spec.schema.get("properties") or {}).items():
                params.append(_json_schema_input(name, prop or {}, name in required))
        elif spec.schema is not None:
            schema = spec.schema() if isinstance(spec.schema, type) else spec.schema
            params = [_marshmallow_input(n, f) for n, f in schema.fields.items() if not f.dump_only]
        for param in params:
            _pickers(param, actor)
            if (spec.name, param.name) in PARAM_HELP:
                param.help = str(PARAM_HELP[(spec.name, param.name)])
        label = ACTION_LABELS.get(spec.name)
        out.append(ActionForm(spec.name, str(label) if label else _(spec.label), spec.plugin, params))
    return out


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def actions_to_rows(actions, forms: dict[str, ActionForm]) -> list[dict]:
    """A rule's stored actions as editor rows (an action no longer installed as a JSON row)."""
    rows = []
    for i, action in enumerate(actions or []):
        form = forms.get(action.get("type"))
        params = action.get("params") or {}
        if form is None or any(form.param(k) is None for k in params):
            rows.append({"index": i, "raw": json.dumps(action, ensure_ascii=False, indent=1)})
            continue
        rows.append({"index": i, "type": form.name, "params": {k: _shown(v) for k, v in params.items()}})
    return rows


def _param_value(param: ParamInput, raw: str | None, key: str, errors: dict):
    """The parameter's value from its input (``None``: left blank), or an error under ``key``."""
    if param.widget == "bool":
        return raw in ("true", "on", "1")
    text = (raw or "").strip()
    if text == "":
        if param.required:
            errors[key] = [_("This field is required.")]
        return None
    if param.widget == "number":
        try:
            return int(text)
        except ValueError:
            errors[key] = [_("Give a whole number.")]
            return None
    if param.widget == "decimal":
        try:
            number = decimal.Decimal(text)
        except decimal.InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            errors[key] = [_("Give a number.")]
            return None
        return text
    if param.widget == "tags":
        return split_list(text)
    if param.widget == "json":
        try:
            return json.loads(text)
        except ValueError:
            errors[key] = [_("Not valid JSON.")]
            return None
    if param.widget == "select" and param.choices and text not in {v for v, _l in param.choices}:
        errors[key] = [_("Choose one of the options.")]
        return None
    if param.widget == "select" and param.name.endswith("_id") and text.isdigit():
        return int(text)
    return text


def _schema_messages(messages, key_of) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not isinstance(messages, dict):
        return {key_of(None): [_(str(m)) for m in (messages if isinstance(messages, list) else [messages])]}
    for name, value in messages.items():
        texts = value if isinstance(value, list) else [value]
        flat = [t for item in texts for t in (item.values() if isinstance(item, dict) else [item])]
        out[key_of(name)] = [str(SCHEMA_MESSAGES.get(str(t)) or _(str(t))) for t in flat]
    return out


def actions_from_form(form, forms: dict[str, ActionForm]) -> tuple[list[dict], list[dict], dict]:
    """``(actions, rows, errors)`` from the posted action rows; each action's params are checked
    by the action's own schema (errors keyed by the inputs, ``a-<i>-p-<param>``)."""
    from ..automations.actions import available_actions

    specs = available_actions()
    indices = sorted({int(m.group(1)) for key in form if (m := ACTION_ROW_RE.match(key))})
    actions, rows, errors = [], [], {}
    for i in indices:
        if form.get(f"a-{i}-raw") is not None:
            text = form.get(f"a-{i}-raw", "")
            rows.append({"index": i, "raw": text})
            try:
                action = json.loads(text)
                if not isinstance(action, dict) or not isinstance(action.get("type"), str):
                    raise ValueError
            except ValueError:
                errors[f"a-{i}-raw"] = [_('Give the action as JSON: {"type": …, "params": {…}}.')]
                continue
            actions.append({"type": action["type"], "params": action.get("params") or {}})
            continue
        name = form.get(f"a-{i}-type", "").strip()
        if not name:
            continue
        action_form = forms.get(name)
        shown = {
            p.name: form.get(f"a-{i}-p-{p.name}", "") for p in (action_form.params if action_form else [])
        }
        rows.append({"index": i, "type": name, "params": shown})
        if action_form is None:
            errors[f"a-{i}-type"] = [_("Choose an action.")]
            continue
        params = {}
        for param in action_form.params:
            value = _param_value(param, form.get(f"a-{i}-p-{param.name}"), f"a-{i}-p-{param.name}", errors)
            if value is not None and not (param.widget == "bool" and value is False and not param.required):
                params[param.name] = value
        if any(k.startswith(f"a-{i}-") for k in errors):
            continue
        try:
            specs[name].load(params)
        except ValidationError as exc:
            errors.update(
                _schema_messages(exc.messages, lambda k, i=i: f"a-{i}-p-{k}" if k else f"a-{i}-type")
            )
            continue
        except Exception:  # a plugin's broken schema: say so on the row rather than fail the page
            errors[f"a-{i}-type"] = [_("This action's parameters cannot be checked.")]
            continue
        actions.append({"type": name, "params": params})
    if not actions and not errors:
        errors["actions"] = [_("Add at least one action.")]
    return actions, rows, errors


# --- conditions ----------------------------------------------------------------------------------


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
        "values": [_shown(item.get("value"))],
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
        values = [_shown(v) for v in value] if isinstance(value, list) else [_shown(value)]
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
    from ..automations import conditions as language

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


# --- pages ---------------------------------------------------------------------------------------


def _trigger_from_form(form) -> tuple[str, str, str]:
    """``(trigger, choice, custom)``: the chosen event type, or the typed pattern for "other"."""
    choice = form.get("trigger_choice", "").strip()
    custom = form.get("trigger_custom", "").strip()
    return (custom if choice == OTHER else choice), choice, custom


def _render(res, actor, record, values, match, condition_rows, action_rows, errors, message, status=200):
    catalogue = {f.name: f for f in condition_fields(actor)}
    forms = action_forms(actor)
    groups = event_types(actor)
    return render_template(
        "crm/builders/automation_form.html",
        res=res,
        record=record,
        values=values,
        groups=groups,
        OTHER=OTHER,
        match=match,
        condition_rows=condition_rows,
        condition_fields=list(catalogue.values()),
        catalogue=catalogue,
        next_condition=max([r["index"] for r in condition_rows], default=-1) + 1,
        action_rows=action_rows,
        action_forms=forms,
        forms_by_name={f.name: f for f in forms},
        next_action=max([r["index"] for r in action_rows], default=-1) + 1,
        errors=errors,
        message=message,
    ), status


def _submit(res, actor, record):
    form = request.form
    catalogue = {f.name: f for f in condition_fields(actor)}
    forms = {f.name: f for f in action_forms(actor)}
    trigger, choice, custom = _trigger_from_form(form)
    conditions, match, condition_rows, errors = conditions_from_form(form, catalogue)
    actions, action_rows, action_errors = actions_from_form(form, forms)
    errors.update(action_errors)
    values = {
        "name": form.get("name", "").strip(),
        "description": form.get("description", "").strip(),
        "trigger_choice": choice,
        "trigger_custom": custom,
        "active": form.get("active") is not None,
    }
    if not trigger:
        errors["trigger"] = [_("Choose the event that starts the rule.")]
    message = _("Please correct the marked fields.")
    if not errors:
        data = {
            "name": values["name"],
            "description": values["description"],
            "trigger": trigger,
            "conditions": conditions,
            "actions": actions,
            "active": values["active"],
        }
        try:
            saved = save(res, actor, load(res, data, partial=record is not None), record)
        except FormErrors as exc:
            errors, message = _rule_errors(exc.errors), exc.message or message
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("web.record_detail", resource="automations", record_id=saved.id))
    return _render(res, actor, record, values, match, condition_rows, action_rows, errors, message, 422)


def _rule_errors(errors: dict) -> dict:
    """The schema's messages in the user's language (the trigger's pattern message is ours)."""
    out = dict(errors)
    if "trigger" in out:
        out["trigger"] = [_("An event type, * wildcards allowed: order.paid, customer.*")]
    for key in ("name", "description"):
        if key in out:
            out[key] = [str(SCHEMA_MESSAGES.get(m) or _(m)) for m in out[key]]
    return out


def _values_of(record, groups) -> dict:
    known = {t for _group, items in groups for t, _label in items}
    trigger = record.trigger or ""
    return {
        "name": record.name,
        "description": record.description or "",
        "trigger_choice": trigger if trigger in known else OTHER,
        "trigger_custom": "" if trigger in known else trigger,
        "active": bool(record.active),
    }


@bp.route("/automations/new", methods=["GET", "POST"])
@login_required
def automation_new():
    """Build a new automation rule."""
    actor = g.actor
    res = get_resource("automations")
    permissions.require(actor, "automations", "create")
    if request.method == "POST":
        return _submit(res, actor, None)
    values = {"name": "", "description": "", "trigger_choice": "", "trigger_custom": "", "active": True}
    rows = [{"index": 0, "type": "", "params": {}}]
    return _render(res, actor, None, values, "and", [], rows, {}, None)


@bp.route("/automations/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def automation_edit(record_id):
    """Edit a rule: its trigger, conditions and actions loaded into the builder."""
    actor = g.actor
    res = get_resource("automations")
    record = res.crud.get(record_id, actor, "update")
    if request.method == "POST":
        return _submit(res, actor, record)
    catalogue = {f.name: f for f in condition_fields(actor)}
    match, condition_rows = conditions_to_rows(record.conditions, catalogue)
    action_rows = actions_to_rows(record.actions, {f.name: f for f in action_forms(actor)})
    values = _values_of(record, event_types(actor))
    return _render(res, actor, record, values, match, condition_rows, action_rows, {}, None)


register_editor("automations", new="web.automation_new", edit="web.automation_edit")
