"""The dry-run panel of an automation rule: try the rule on an event and see the trigger match,
the condition trace (each comparison with its actual value) and the actions it would run, with
nothing written. The same checks as ``POST /api/v1/automations/<id>/dry-run``: the rule must be
readable and so must the customer the event names."""

from __future__ import annotations

import json

from flask import g, render_template, request
from flask_babel import gettext as _

from .. import permissions
from ..automations.engine import dry_run
from ..entities.models import Customer
from ..errors import APIError
from .automation_editor_actions import action_forms
from .automation_editor_events import event_label, event_types
from .blueprint import bp
from .builder_fields import OPERATOR_LABELS, condition_fields
from .registry import fields_for, get_resource
from .session import login_required


def readable_json(value) -> str:
    """JSON for people: Chinese and other non-ASCII text as written, not ``\\u81ea``-style escapes."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _value_text(bf, value) -> str:
    values = value if isinstance(value, list) else [value]
    shown = []
    for v in values:
        if isinstance(v, bool):
            shown.append(_("yes") if v else _("no"))
        elif bf is not None and bf.choices:
            shown.append(bf.choice_label(v))
        else:
            shown.append(v if isinstance(v, str) else readable_json(v))
    return ", ".join(shown)


def describe_condition(cond, catalogue: dict) -> dict:
    """A condition as ``{"text", "children"}`` in the user's language (labels of fields, operators
    and choices), for the rule's page."""
    # a dry run's trace is the condition with "result" (and "actual") added to every part
    result = cond.get("result") if isinstance(cond, dict) else None
    if not cond or (isinstance(cond, dict) and cond.get("always")):
        return {"text": _("always (no conditions)"), "children": [], "result": result}
    for key, text in (("and", _("all of:")), ("or", _("any of:"))):
        if isinstance(cond, dict) and key in cond and isinstance(cond[key], list):
            children = [describe_condition(c, catalogue) for c in cond[key]]
            return {"text": text, "children": children, "result": result}
    if isinstance(cond, dict) and "not" in cond:
        return {"text": _("not:"), "children": [describe_condition(cond["not"], catalogue)], "result": result}
    if not isinstance(cond, dict):
        return {"text": readable_json(cond), "children": []}
    op, value = cond.get("op"), cond.get("value")
    if op == "exists" and value is False:
        op, value = "not_exists", None
    op_text = str(OPERATOR_LABELS.get(op, op))
    if "field" in cond:
        name = str(cond["field"])
        bf = catalogue.get(name)
        if bf is None and name.startswith("event.") and name != "event.type":
            label = _("event data %(key)s", key=name[len("event.") :])
        else:
            label = bf.label if bf is not None else name
    else:
        kind = "count" if "count" in cond else "sum"
        spec = cond.get(kind) or {}
        days = spec.get("within_days")
        history = catalogue.get(kind)
        event = history.choice_label(spec.get("event")) if history is not None else spec.get("event")
        if kind == "count":
            label = _("number of %(event)s events", event=event)
        else:
            label = _("total %(field)s of %(event)s events", field=spec.get("field"), event=event)
        if days:
            label = _("%(what)s in the last %(days)s days", what=label, days=days)
        bf = None
    text = (
        f"{label} {op_text}"
        if op in ("exists", "not_exists")
        else f"{label} {op_text} {_value_text(bf, value)}"
    )
    if "actual" in cond:
        actual = cond["actual"]
        shown = _("(none)") if actual is None else _value_text(bf, actual)
        text = _("%(condition)s — actual: %(value)s", condition=text, value=shown)
    return {"text": text, "children": [], "result": result}


def describe_rule(data: dict) -> dict:
    """What the rule's page shows of a dumped rule: the trigger's label, the conditions as
    sentences, each action's label with its parameters' labels and values (readable text, never
    ``\\u81ea``-style escapes)."""
    actor = g.actor
    forms = {f.name: f for f in action_forms(actor)}
    actions = []
    for action in data.get("actions") or []:
        form = forms.get(action.get("type"))
        params = []
        for key, value in (action.get("params") or {}).items():
            if value in ("", None, [], {}):
                continue  # a blank optional parameter says nothing
            param = form.param(key) if form else None
            label = param.label if param else key
            if param is not None and param.choices:
                shown = next((text for v, text in param.choices if v == str(value)), str(value))
            elif isinstance(value, bool):
                shown = _("yes") if value else _("no")
            elif isinstance(value, list):
                shown = ", ".join(str(v) for v in value)
            else:
                shown = value if isinstance(value, str) else readable_json(value)
            params.append((label, shown))
        actions.append(
            {
                "type": action.get("type"),
                "label": form.label if form else action.get("type"),
                "params": params,
            }
        )
    catalogue = {f.name: f for f in condition_fields(actor)}
    trigger = data.get("trigger") or ""
    return {
        "trigger": trigger,
        "trigger_label": event_label(trigger, event_types(actor)),
        "conditions": describe_condition(data.get("conditions"), catalogue),
        "actions": actions,
    }


@bp.app_template_filter("readable_json")
def _readable_json_filter(value):
    """``tojson`` for people: safe in HTML the same way (``<``, ``>``, ``&``, ``'`` escaped as
    JSON escapes), but other non-ASCII text kept as written."""
    from markupsafe import Markup

    text = readable_json(value)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, escape)
    return Markup(text)


@bp.app_template_global("describe_rule")
def _describe_rule_global(data: dict) -> dict:
    return describe_rule(data)


@bp.route("/records/automations/<int:record_id>/dry-run", methods=["POST"])
@login_required
def automation_dry_run(record_id):
    """Evaluate the rule against the event given in the form and show the outcome."""
    actor = g.actor
    res = get_resource("automations")
    rule = res.crud.get(record_id, actor)
    form = {k: request.form.get(k, "") for k in ("event_type", "event_data", "customer_id")}
    errors, result = {}, None
    try:
        data = json.loads(form["event_data"] or "{}")
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        errors["event_data"] = [_("Give the event data as a JSON object.")]
        data = {}
    customer_id = None
    if form["customer_id"].strip():
        try:
            customer_id = int(form["customer_id"])
            permissions.get_record(Customer, customer_id, actor, "customers")
        except (ValueError, APIError):
            errors["customer_id"] = [_("No customer you may read has this id.")]
    if not form["event_type"].strip():
        errors["event_type"] = [_("Give an event type, e.g. customer.created.")]
    if not errors:
        rule_dict = {
            "id": rule.id,
            "trigger": rule.trigger,
            "conditions": rule.conditions,
            "actions": rule.actions,
        }
        result = dry_run(rule_dict, form["event_type"].strip(), data, customer_id=customer_id)
    return render_template(
        "crm/automation.html",
        res=res,
        fields=fields_for(res, actor),
        data=res.crud.dump(rule, actor),
        record=rule,
        can_update=permissions.can(actor, res.resource, "update", rule),
        can_delete=permissions.can(actor, res.resource, "delete", rule),
        dry=form,
        dry_errors=errors,
        result=result,
    ), (422 if errors else 200)


@bp.app_template_global("rule_event_types")
def _rule_event_types_global() -> list:
    return event_types(g.actor)
