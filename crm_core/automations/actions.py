"""Actions automation rules can take: the core's own and those plugins offer via ``crm_actions``.

An action is ``{"name", "label", "schema", "run"}``: ``schema`` is a marshmallow schema (class or
instance) that validates the rule's ``params`` when the rule is saved; ``run(params, event,
customer)`` does the work and may return a JSON-ready result for the run log. Actions run as the
rule's owner (``acting_actor()``), through the core's write path and permission checks, inside a
savepoint: an action that raises leaves nothing behind. Raise ``APIError`` with a 4xx code for a
failure that retrying cannot fix (no permission, missing customer); anything else is retried.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate

from .. import permissions
from ..auth.models import User
from ..db import utcnow
from ..entities import activities as activity_objects
from ..entities import customers as customer_objects
from ..entities.models import Activity
from ..errors import APIError
from ..messaging import send_message as queue_message
from ..messaging.channels import render
from ..records import service
from ..webhooks.models import WebhookSubscription
from ..webhooks.outbound import enqueue

_actor: contextvars.ContextVar = contextvars.ContextVar("crm_automation_actor", default=None)


def acting_actor():
    """The ``Actor`` an automation action runs as (the rule's owner); None outside a rule run."""
    return _actor.get()


@dataclass(frozen=True)
class ActionSpec:
    name: str
    label: str
    schema: Any
    run: Any
    plugin: str = "core.automations"

    def load(self, params: Any) -> dict:
        """Validated params; raises ``marshmallow.ValidationError``."""
        if self.schema is None:
            if params not in (None, {}):
                raise ValidationError({"params": ["This action takes no parameters."]})
            return {}
        if isinstance(self.schema, dict):
            return _load_json_schema(self.schema, params)
        schema = self.schema() if isinstance(self.schema, type) else self.schema
        return schema.load(params or {})

    def describe(self) -> dict:
        """Name, label, plugin and parameter fields (for the rule editor)."""
        params = {}
        if isinstance(self.schema, dict):
            required = set(self.schema.get("required", ()))
            for name, prop in (self.schema.get("properties") or {}).items():
                params[name] = {"type": str((prop or {}).get("type", "any")), "required": name in required}
        elif self.schema is not None:
            schema = self.schema() if isinstance(self.schema, type) else self.schema
            for name, fld in schema.fields.items():
                params[name] = {"type": type(fld).__name__, "required": fld.required}
        return {"name": self.name, "label": self.label, "plugin": self.plugin, "params": params}


def _load_json_schema(schema: dict, params) -> dict:
    """Minimal checks for an action whose ``schema`` is a JSON-Schema-like dict: an object with
    its ``required`` keys and, when ``additionalProperties`` is false, no others."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValidationError({"params": ["Must be an object."]})
    errors = {
        name: ["Missing data for required field."]
        for name in schema.get("required", ())
        if name not in params
    }
    if schema.get("additionalProperties") is False:
        known = set(schema.get("properties") or {})
        errors.update({name: ["Unknown field."] for name in params if name not in known})
    if errors:
        raise ValidationError(errors)
    return dict(params)


def _customer_required(customer):
    if customer is None:
        raise APIError(422, "The event has no customer to act on.")
    return customer


def _customer_update(customer, data: dict):
    return service.update("customers", customer, data, acting_actor(), **customer_objects.WRITE_OPTIONS)


class TagParams(Schema):
    tag = fields.String(required=True, validate=validate.Length(min=1, max=100))


def add_tag(params, event, customer):
    """Add a tag to the event's customer (no change if it already has it)."""
    customer = _customer_required(customer)
    tags = list(customer.tags)
    if params["tag"] in tags:
        return {"changed": False}
    _customer_update(customer, {"tags": [*tags, params["tag"]]})
    return {"changed": True, "tags": sorted({*tags, params["tag"]})}


def remove_tag(params, event, customer):
    """Remove a tag from the event's customer (no change if it does not have it)."""
    customer = _customer_required(customer)
    tags = list(customer.tags)
    if params["tag"] not in tags:
        return {"changed": False}
    _customer_update(customer, {"tags": [t for t in tags if t != params["tag"]]})
    return {"changed": True, "tags": [t for t in tags if t != params["tag"]]}


class TaskParams(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=300))
    body = fields.String(load_default="", validate=validate.Length(max=20000))
    due_in_hours = fields.Integer(load_default=24, validate=validate.Range(min=0, max=24 * 365))
    assignee = fields.String(
        load_default="customer_owner",
        validate=validate.OneOf(["customer_owner", "rule_owner"]),
        metadata={"description": "Who owns the task: the customer's owner or the rule's owner."},
    )


def create_task(params, event, customer):
    """Create a task (an activity of kind ``task``) on the event's customer."""
    customer = _customer_required(customer)
    actor = acting_actor()
    owner = customer.owner_id if params["assignee"] == "customer_owner" and customer.owner_id else actor.id
    data = {
        "kind": "task",
        "subject": params["subject"],
        "body": params["body"],
        "due_at": utcnow() + dt.timedelta(hours=params["due_in_hours"]),
        "related_type": "customers",
        "related_id": customer.id,
        "owner_id": owner,
    }
    task = service.create("activities", Activity, data, actor, **activity_objects.WRITE_OPTIONS)
    return {"activity_id": task.id}


class OwnerParams(Schema):
    user_id = fields.Integer(required=True, validate=validate.Range(min=1))


def assign_owner(params, event, customer):
    """Make a user the owner of the event's customer (within the rule owner's scope)."""
    customer = _customer_required(customer)
    user = User.get_or_none(User.id == params["user_id"])
    if user is None or not user.is_active:
        raise APIError(422, f"No active user {params['user_id']}.")
    if customer.owner_id == user.id:
        return {"changed": False}
    data = {"owner_id": user.id}
    if user.department_id is not None:
        data["department_id"] = user.department_id
    _customer_update(customer, data)
    return {"changed": True, "owner_id": user.id}


class WebhookParams(Schema):
    subscription_id = fields.Integer(required=True, validate=validate.Range(min=1))


def send_webhook(params, event, customer):
    """Send the triggering event to one webhook subscription, whatever its event filter."""
    sub = WebhookSubscription.get_or_none(WebhookSubscription.id == params["subscription_id"])
    if sub is None or not permissions.can(acting_actor(), "webhooks", "read", sub):
        raise APIError(422, f"No webhook subscription {params['subscription_id']} the rule's owner can use.")
    if not sub.active:
        raise APIError(422, f"Webhook subscription {sub.id} is inactive.")
    try:
        delivery = enqueue(sub, event)
    except PermissionError as exc:
        raise APIError(403, str(exc)) from None
    return {"delivery_id": delivery.id}


class MessageParams(Schema):
    channel = fields.String(required=True, validate=validate.Length(min=1, max=64))
    to = fields.String(
        load_default="customer",
        validate=validate.OneOf(["customer", "group"]),
        metadata={"description": "The event's customer (SMS: their phone) or the channel's group (robots)."},
    )
    kind = fields.String(load_default="text", validate=validate.OneOf(["text", "markdown", "template"]))
    text = fields.String(
        load_default="",
        validate=validate.Length(max=20000),
        metadata={"description": "{customer_name}, {event_type} and the event's fields are filled in."},
    )
    template = fields.String(load_default=None, validate=validate.Length(max=100))
    purpose = fields.String(
        load_default="service", validate=validate.OneOf(["service", "marketing", "reminder", "alert"])
    )


def send_message(params, event, customer):
    """Queue a message on a channel about the event (once per event, rule action and channel:
    a retried run finds its delivery); marketing is refused without the customer's consent."""
    actor = acting_actor()
    if not permissions.can(actor, "messaging", "send"):
        raise APIError(403, "The rule's owner may not send messages (messaging:send).")
    if params["to"] == "customer":
        customer = _customer_required(customer)
        if not permissions.can(actor, "customers", "read", customer):
            raise APIError(403, f"The rule's owner may not read customer {customer.id}.")
    variables = {k: v for k, v in (event.data or {}).items() if isinstance(v, str | int | float)}
    variables.update(event_type=event.type, customer_name=customer.name if customer is not None else "")
    try:
        text = render(params["text"], variables) if params["text"] else ""
    except ValueError as exc:
        raise APIError(422, str(exc)) from None
    message = {"kind": params["kind"], "text": text, "template": params["template"], "variables": variables}
    to = {"customer_id": customer.id} if params["to"] == "customer" else {"group": params["channel"]}
    digest = hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()[:16]
    delivery_id = queue_message(
        params["channel"],
        to,
        message,
        purpose=params["purpose"],
        customer_id=customer.id if customer is not None else None,
        key=f"automation:{event.id}:{digest}",
        actor=actor,
    )
    return {"delivery_id": delivery_id}


CORE_ACTIONS = [
    {"name": "add_tag", "label": "Add a tag to the customer", "schema": TagParams, "run": add_tag},
    {"name": "remove_tag", "label": "Remove a tag from the customer", "schema": TagParams, "run": remove_tag},
    {
        "name": "create_task",
        "label": "Create a task on the customer",
        "schema": TaskParams,
        "run": create_task,
    },
    {
        "name": "assign_owner",
        "label": "Assign the customer to a user",
        "schema": OwnerParams,
        "run": assign_owner,
    },
    {
        "name": "send_webhook",
        "label": "Send the event to a webhook subscription",
        "schema": WebhookParams,
        "run": send_webhook,
    },
    {
        "name": "send_message",
        "label": "Send a message (robot, SMS)",
        "schema": MessageParams,
        "run": send_message,
    },
]


def available_actions(plugins=None) -> dict[str, ActionSpec]:
    """Every action by name from every ``crm_actions`` implementation (the core's own come from
    ``core.automations``, registered first); a later duplicate name is ignored and logged."""
    plugins = plugins or current_app.extensions["crm"].plugins
    found: dict[str, ActionSpec] = {}
    for plugin, items in plugins.calls("crm_actions"):
        for item in items or []:
            if not isinstance(item, dict) or not callable(item.get("run")) or not item.get("name"):
                current_app.logger.error("plugin %s offers a malformed action %r", plugin, item)
                continue
            if item["name"] in found:
                current_app.logger.error("action %s of plugin %s ignored: name taken", item["name"], plugin)
                continue
            found[item["name"]] = ActionSpec(
                item["name"], item.get("label") or item["name"], item.get("schema"), item["run"], plugin
            )
    return found
