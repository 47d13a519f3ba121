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

The parts live in ``automation_editor_events`` (the triggers), ``automation_editor_conditions``
and ``automation_editor_actions``; this module holds the pages.

Routes: ``/automations/new`` and ``/automations/<id>/edit``, registered as the editor of
``automations`` (``/records/automations/new|edit`` lead here).
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import permissions
from .automation_editor_actions import SCHEMA_MESSAGES, action_forms, actions_from_form, actions_to_rows
from .automation_editor_conditions import conditions_from_form, conditions_to_rows
from .automation_editor_events import event_types
from .blueprint import bp
from .builder_fields import condition_fields
from .editors import register_editor
from .forms import FormErrors, load, save
from .registry import get_resource
from .session import login_required

OTHER = "__other__"


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
