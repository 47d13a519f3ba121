"""crm-hello: the worked example of a third-party crm-core plugin.

Greetings are short messages for a customer. The plugin shows every kind of hook a plugin
usually needs; copy it as the starting point of your own:

- ``crm_models`` / ``crm_migrations``: a model and its migration history (table prefix ``hello_``);
- ``crm_blueprints``: a REST collection at ``/api/v1/hello/greetings`` through the core's CRUD
  factory, so row scopes, field rules, audit, events, ETags and idempotency all apply;
- ``crm_permissions``: the resource ``hello.greetings`` with an extra action ``send``;
- ``crm_permission_check``: a veto (locked greetings cannot be changed or deleted);
- ``crm_permission_filter``: a record rule (private greetings are seen only by their owner);
- ``crm_jobs``: a daily tally, run by the scheduler process only;
- ``crm_event``: a welcome greeting for every new customer, idempotent on the event id;
- ``crm_export_customer`` / ``crm_erase_customer``: privacy export and erasure;
- ``crm_entities``: a template adding a custom field ``greeting_name`` to customers;
- ``crm_actions``: an automation action ``hello.greet`` ("when X, greet the customer");
- ``crm_cli``: ``crm hello stats``; ``crm_nav``: a workbench menu entry.
"""

from __future__ import annotations

from pathlib import Path

import click
import peewee as pw
from flask import Blueprint as WebBlueprint
from flask import render_template
from flask.cli import with_appcontext
from marshmallow import Schema, fields, validate

from crm_core import hookimpl
from crm_core.plugin_api import (
    API_PREFIX,
    BaseModel,
    Blueprint,
    RecordModel,
    create_record,
    login_required,
    register_crud,
    scoped,
    utcnow,
    web_actor,
)

__version__ = "0.1.0"

RESOURCE = "hello.greetings"
requires = ("core.records", "core.permissions")


class Greeting(RecordModel):
    """A greeting for a customer. ``source_event`` makes event-driven greetings idempotent."""

    customer_id = pw.IntegerField(null=True, index=True)
    text = pw.CharField(max_length=500)
    private = pw.BooleanField(default=False)
    locked = pw.BooleanField(default=False)
    source_event = pw.CharField(max_length=64, null=True, unique=True)

    class Meta:
        table_name = "hello_greeting"


class Tally(BaseModel):
    """How many greetings existed at the end of a day (written by the ``hello:tally`` job)."""

    day = pw.DateField(unique=True)
    greetings = pw.IntegerField()
    counted_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "hello_tally"


class GreetingSchema(Schema):
    id = fields.Integer(dump_only=True)
    customer_id = fields.Integer(allow_none=True)
    text = fields.String(required=True, validate=validate.Length(min=1, max=500))
    private = fields.Boolean()
    locked = fields.Boolean()
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict()
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


blp = Blueprint("hello", __name__, url_prefix=f"{API_PREFIX}/hello", description="Example plugin: greetings")
register_crud(blp, RESOURCE, Greeting, GreetingSchema, path="/greetings", search_fields=[Greeting.text])

pages = WebBlueprint("hello_pages", __name__, url_prefix="/hello", template_folder="templates")


@pages.route("/")
@login_required
def greetings_page():
    """The greetings the signed-in user may read, newest first (same row scopes as the API)."""
    actor = web_actor()
    query = scoped(Greeting.select(), actor, RESOURCE, "read").order_by(Greeting.id.desc()).limit(100)
    return render_template("hello/greetings.html", greetings=list(query))


class GreetParams(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=500))


def greet(params: dict, event, customer) -> dict:
    """Automation action ``hello.greet``: greet the event's customer, as the rule's owner."""
    from crm_core.plugin_api import APIError, acting_actor

    if customer is None:
        raise APIError(422, "hello.greet needs an event about a customer.")
    text = params["text"].replace("{name}", (customer.custom or {}).get("greeting_name") or customer.name)
    greeting = create_record(RESOURCE, Greeting, {"text": text, "customer_id": customer.id}, acting_actor())
    return {"greeting_id": greeting.id}


def tally() -> int:
    """Record today's number of greetings; returns it. Safe to run again the same day."""
    today = utcnow().date()
    count = Greeting.select().count()
    Tally.insert(day=today, greetings=count, counted_at=utcnow()).on_conflict(
        conflict_target=[Tally.day], update={Tally.greetings: count, Tally.counted_at: utcnow()}
    ).execute()
    return count


@hookimpl
def crm_models():
    return [Greeting, Tally]


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_blueprints():
    return [blp]


@hookimpl
def crm_web_blueprints():
    return [pages]


@hookimpl
def crm_permissions():
    return [
        {
            "resource": RESOURCE,
            "actions": ["read", "create", "update", "delete", "send"],
            "label": "Greetings",
        }
    ]


@hookimpl
def crm_permission_check(actor, action, resource, record):
    if resource == RESOURCE and action in ("update", "delete") and getattr(record, "locked", False):
        return False
    return None


@hookimpl
def crm_permission_filter(actor, action, model):
    if model is Greeting:
        return (Greeting.private == False) | (Greeting.owner_id == actor.id)  # noqa: E712  (SQL, not Python)
    return None


@hookimpl
def crm_entities():
    return [
        {
            "name": "hello",
            "version": "1",
            "fields": [
                {
                    "entity": "customers",
                    "name": "greeting_name",
                    "type": "string",
                    "label": {"en": "Name to greet with", "zh-CN": "问候称呼"},
                    "max_length": 100,
                }
            ],
        }
    ]


@hookimpl
def crm_actions():
    return [{"name": "hello.greet", "label": "Send a greeting", "schema": GreetParams, "run": greet}]


@hookimpl
def crm_jobs():
    return [
        {
            "id": "hello:tally",
            "func": tally,
            "trigger": "cron",
            "hour": 23,
            "minute": 55,
            "description": "Count greetings once a day.",
        }
    ]


@hookimpl
def crm_event(event):
    if event.type != "customer.created":
        return
    customer = event.data["object"]  # record events carry the record under "object" (docs/events.md)
    Greeting.insert(
        text=f"Welcome, {customer.get('name') or 'new customer'}!",
        customer_id=customer.get("id"),
        owner_id=customer.get("owner_id"),
        department_id=customer.get("department_id"),
        source_event=event.id,
    ).on_conflict_ignore().execute()


@hookimpl
def crm_export_customer(customer):
    rows = Greeting.select().where(Greeting.customer_id == customer.id).order_by(Greeting.id)
    return {"greetings": [{"id": g.id, "text": g.text, "created_at": g.created_at.isoformat()} for g in rows]}


@hookimpl
def crm_erase_customer(customer):
    Greeting.delete().where(Greeting.customer_id == customer.id).execute()


@hookimpl
def crm_cli(group):
    @group.group("hello")
    def hello_group():
        """Example plugin commands."""

    @hello_group.command("stats")
    @with_appcontext
    def stats():
        """Print how many greetings there are."""
        click.echo(f"greetings: {Greeting.select().count()}")


@hookimpl
def crm_nav():
    return [
        {
            "label": "Greetings",
            "endpoint": "hello_pages.greetings_page",
            "permission": f"{RESOURCE}:read",
            "kind": "menu",
        }
    ]
