"""The dry-run panel of an automation rule: try the rule on an event and see the trigger match,
the condition trace (each comparison with its actual value) and the actions it would run, with
nothing written. The same checks as ``POST /api/v1/automations/<id>/dry-run``: the rule must be
readable and so must the customer the event names."""

from __future__ import annotations

import json

from flask import g, render_template, request
from flask_babel import gettext as _

from .. import permissions
from ..errors import APIError
from .blueprint import bp
from .registry import fields_for, get_resource
from .session import login_required


@bp.route("/records/automations/<int:record_id>/dry-run", methods=["POST"])
@login_required
def automation_dry_run(record_id):
    """Evaluate the rule against the event given in the form and show the outcome."""
    from ..automations.engine import dry_run
    from ..entities.models import Customer

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
