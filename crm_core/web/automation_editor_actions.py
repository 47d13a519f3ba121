"""The actions of an automation rule as the rule editor shows them: every ``crm_actions`` action
(core and plugins) with inputs built from its params schema (a marshmallow schema, or a
JSON-Schema-like dict), users, webhook subscriptions and tags offered as choices, and the posted
rows read back into actions, each checked by the action's own schema.
"""

from __future__ import annotations

import decimal
import json
import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from marshmallow import fields as mf
from marshmallow import validate as mv

from .. import permissions
from ..auth.models import User
from ..automations.actions import available_actions
from ..messaging.channels import collect as collect_channels
from ..webhooks.models import WebhookSubscription
from .builder_fields import split_list, tag_names
from .registry import _localised, value_label

ACTION_ROW_RE = re.compile(r"^a-(\d+)-(type|raw)$")

#: The core actions' labels in the user's language (plugins' labels go through their catalogue).
ACTION_LABELS = {
    "add_tag": _l("Add a tag to the customer"),
    "remove_tag": _l("Remove a tag from the customer"),
    "create_task": _l("Create a task on the customer"),
    "assign_owner": _l("Assign the customer to a user"),
    "send_webhook": _l("Send the event to a webhook subscription"),
    "send_message": _l("Send a message (robot, SMS)"),
}
PARAM_LABELS = {
    "tag": _l("Tag"),
    "subject": _l("Subject"),
    "body": _l("Body"),
    "due_in_hours": _l("Due in (hours)"),
    "assignee": _l("Assignee"),
    "user_id": _l("User"),
    "subscription_id": _l("Webhook subscription"),
    "channel": _l("Message channel"),
    "to": _l("Recipient"),
    "kind": _l("Message format"),
    "text": _l("Message text"),
    "template": _l("Template"),
    "purpose": _l("Purpose"),
}
#: The core actions' parameter descriptions in the user's language (keyed by action, then param).
PARAM_HELP = {
    ("create_task", "assignee"): _l("Who owns the task: the customer's owner or the rule's owner."),
    ("create_task", "due_in_hours"): _l("Hours from the event until the task is due."),
    ("send_message", "text"): _l("{customer_name}, {event_type} and the event's fields are filled in."),
    ("send_message", "to"): _l("The event's customer (SMS: their phone) or the channel's group (robots)."),
}
PARAM_CHOICE_LABELS = {
    "customer_owner": _l("the customer's owner"),
    "rule_owner": _l("the rule's owner"),
    "customer": _l("the event's customer"),
    "group": _l("the channel's group"),
    "text": _l("Plain text"),
    "markdown": _l("Markdown"),
    "template": _l("Template"),
    "service": _l("Service"),
    "marketing": _l("Marketing (needs consent)"),
    "reminder": _l("Reminder"),
    "alert": _l("Alert"),
}


#: marshmallow's own messages the editor says in the user's language
SCHEMA_MESSAGES = {
    "Missing data for required field.": _l("This field is required."),
    "Not a valid integer.": _l("Give a whole number."),
    "Not a valid number.": _l("Give a number."),
    "Unknown field.": _l("Unknown field."),
}


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
    elif param.name == "channel" and permissions.can(actor, "messaging", "read"):
        # the send_message action: every channel a message can go to (configured or a plugin's)
        param.choices = [
            (c.name, c.label or c.name) for c in sorted(collect_channels().values(), key=lambda c: c.name)
        ]
        param.widget = "select" if param.choices else param.widget
    elif param.name == "tag":
        param.suggestions = tag_names(actor)


def action_forms(actor) -> list[ActionForm]:
    """Every action rules can use (``crm_actions``), with its parameter inputs."""
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


def shown(value) -> str:
    """A stored value as an input shows it (JSON for a dict, a comma list for a list)."""
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
        rows.append({"index": i, "type": form.name, "params": {k: shown(v) for k, v in params.items()}})
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
