"""crm-warranty: product warranties of customers, and their claims.

Written from ``docs/plugins.md`` alone: it imports from the core only ``crm_core.hookimpl`` and
``crm_core.plugin_api``. What it adds:

- ``warranty.warranties``: a collection (``register_crud``: REST, workbench pages, scopes, field
  rules, audit, events) and its ``claim`` action (``register_action``, :mod:`crm_warranty.api`);
- grants for the built-in roles, seeded by migration ``0002_builtin_role_grants``;
- the daily job ``warranty:expire``: active warranties past ``expires_at`` (as of the job
  context's clock) become ``expired``, written as the jobs' system actor;
- the automation action ``warranty.register`` (register a warranty for the event's customer);
- a panel on the customer page listing the warranties the viewer may read (``template_vars``);
- the privacy export and erasure of a customer's warranties.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Blueprint as WebBlueprint
from marshmallow import Schema, fields, validate

from crm_core import hookimpl
from crm_core.plugin_api import (
    APIError,
    acting_actor,
    create_record,
    scoped,
    update_record,
    utcnow,
)

from .api import RESOURCE, blp
from .models import ACTIVE, EXPIRED, Warranty

__version__ = "0.1.0"

requires = ("core.records", "core.permissions", "core.automations")

# the templates (the customer panel) ship in the package; a blueprint with no routes serves them
templates = WebBlueprint("warranty_templates", __name__, template_folder="templates")


def expire(ctx) -> int:
    """Expire every active warranty whose end has passed (as of ``ctx.now``); returns how many."""
    due = Warranty.select().where(Warranty.status == ACTIVE, Warranty.expires_at <= ctx.now)
    count = 0
    for warranty in due:
        update_record(RESOURCE, warranty, {"status": EXPIRED}, ctx.actor)
        count += 1
    ctx.log.info("expired %d warranties", count)
    return count


class RegisterParams(Schema):
    product = fields.String(required=True, validate=validate.Length(min=1, max=200))
    months = fields.Integer(load_default=12, validate=validate.Range(min=1, max=120))


def register(params: dict, event, customer) -> dict:
    """Automation action ``warranty.register``: a warranty for the event's customer, as the rule's
    owner (who needs ``warranty.warranties:create``)."""
    if customer is None:
        raise APIError(422, "warranty.register needs an event about a customer.")
    now = utcnow()
    data = {
        "customer_id": customer.id,
        "product": params["product"],
        "serial": f"AUTO-{event.id}",  # one warranty per event, however often it is delivered
        "expires_at": now + dt.timedelta(days=30 * params.get("months", 12)),
    }
    if Warranty.select().where(Warranty.serial == data["serial"]).exists():
        return {"skipped": data["serial"]}
    warranty = create_record(RESOURCE, Warranty, data, acting_actor())
    return {"warranty_id": warranty.id}


def panel_vars(customer, actor) -> dict:
    """The customer's warranties the viewer may read, for the customer page's panel."""
    query = scoped(Warranty.select(), actor, RESOURCE, "read")
    return {
        "warranties": list(query.where(Warranty.customer_id == customer.id).order_by(Warranty.expires_at))
    }


@hookimpl
def crm_models():
    return [Warranty]


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_blueprints():
    return [blp]


@hookimpl
def crm_web_blueprints():
    return [templates]


@hookimpl
def crm_permissions():
    return [
        {
            "resource": RESOURCE,
            "actions": ["read", "create", "update", "delete", "export", "claim"],
            "label": "Warranties",
        }
    ]


@hookimpl
def crm_jobs():
    return [
        {
            "id": "warranty:expire",
            "func": expire,
            "trigger": "cron",
            "hour": 0,
            "minute": 30,
            "description": "Expire warranties whose end has passed.",
        }
    ]


@hookimpl
def crm_actions():
    return [
        {
            "name": "warranty.register",
            "label": "Register a warranty",
            "schema": RegisterParams,
            "run": register,
        }
    ]


@hookimpl
def crm_nav():
    return [
        {
            "label": "Warranties",
            "endpoint": "web.record_list",
            "args": {"resource": RESOURCE},
            "permission": f"{RESOURCE}:read",
            "kind": "menu",
        },
        {
            "label": "Warranties",
            "kind": "customer_panel",
            "template": "warranty/customer_panel.html",
            "permission": f"{RESOURCE}:read",
            "template_vars": panel_vars,
        },
    ]


@hookimpl
def crm_export_customer(customer):
    rows = Warranty.select().where(Warranty.customer_id == customer.id).order_by(Warranty.id)
    return {
        "warranties": [
            {
                "product": w.product,
                "serial": w.serial,
                "status": w.status,
                "expires_at": w.expires_at.isoformat(),
                "claim_reason": w.claim_reason,
            }
            for w in rows
        ]
    }


@hookimpl
def crm_erase_customer(customer):
    Warranty.delete().where(Warranty.customer_id == customer.id).execute()
