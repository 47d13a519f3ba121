"""``/api/v1/automations``: rules (CRUD through the core write path), the actions available, dry
runs, and each rule's run log with manual retry."""

from __future__ import annotations

import re

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from .. import permissions
from ..auth import current_actor
from ..automations import conditions as condition_language
from ..automations.actions import available_actions
from ..automations.engine import dry_run, retry_run
from ..automations.models import FAILED, RETRYING, AutomationRule, AutomationRun
from ..db import database
from ..entities.models import Customer
from ..entities.schemas import BlankText, RecordSchema, UTCDateTime
from ..errors import APIError
from ..events.models import OutboxEvent
from . import API_PREFIX, Blueprint
from .crud import register_crud

RESOURCE = "automations"
TRIGGER_RE = re.compile(r"^(\*|[a-z0-9_*]+(\.[a-z0-9_*]+)*)$")

blp = Blueprint(
    "automations",
    __name__,
    url_prefix=API_PREFIX,
    description="Automation rules: when an event happens and conditions hold, take actions",
)


class ActionSchema(Schema):
    type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    params = fields.Dict(load_default=dict)


def _check_actions(actions: list[dict]) -> None:
    """422-style errors for unknown actions or bad params, keyed by the action's index."""
    specs = available_actions()
    errors = {}
    for index, action in enumerate(actions):
        spec = specs.get(action["type"])
        if spec is None:
            errors[index] = {"type": [f"Unknown action; available: {', '.join(sorted(specs))}."]}
            continue
        try:
            spec.load(action.get("params"))
        except ValidationError as exc:
            errors[index] = {"params": exc.messages}
        except Exception as exc:  # a plugin's broken schema must answer 422, not 500
            errors[index] = {"params": [f"Cannot be checked: {type(exc).__name__}: {exc}"]}
    if errors:
        raise ValidationError(errors, field_name="actions")


class RuleDraftSchema(Schema):
    """What a rule does: its trigger, conditions and actions (validated against the actions
    installed)."""

    trigger = fields.String(
        required=True,
        validate=validate.Regexp(
            TRIGGER_RE, error="An event type, * wildcards allowed: order.paid, customer.*"
        ),
    )
    conditions = fields.Raw(
        load_default=dict,
        metadata={"description": "JSON condition language (see docs/events.md#automation-rules)"},
    )
    actions = fields.List(fields.Nested(ActionSchema), required=True, validate=validate.Length(min=1, max=20))

    @validates("conditions")
    def _conditions(self, value, **kwargs):
        try:
            condition_language.validate(value)
        except condition_language.ConditionError as exc:
            raise ValidationError(exc.errors) from None

    @validates_schema
    def _actions(self, data, **kwargs):
        if "actions" in data:
            _check_actions(data["actions"])


class RuleSchema(RecordSchema, RuleDraftSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = BlankText(validate=validate.Length(max=5000))
    active = fields.Boolean()


def before_save(record: AutomationRule, data: dict, before) -> None:
    if record.conditions is None:
        record.conditions = {}


crud = register_crud(
    blp,
    RESOURCE,
    AutomationRule,
    RuleSchema,
    path="/automations",
    before_save=before_save,
    filter_fields=["name", "trigger", "active", "owner_id", "created_at"],
    search_fields=lambda: [AutomationRule.name, AutomationRule.description],
    description="automation rules",
)


class ActionInfoSchema(Schema):
    name = fields.String()
    label = fields.String()
    plugin = fields.String()
    params = fields.Dict()


@blp.route("/automations/actions")
class Actions(MethodView):
    @blp.response(200, ActionInfoSchema(many=True))
    def get(self):
        """Every action rules can use (core and plugins), with its parameters."""
        actor = current_actor()

        permissions.require(actor, RESOURCE, "read")
        return [spec.describe() for spec in sorted(available_actions().values(), key=lambda s: s.name)]


class EventInputSchema(Schema):
    type = fields.String(required=True, validate=validate.Regexp(TRIGGER_RE))
    data = fields.Dict(load_default=dict)
    customer_id = fields.Integer(allow_none=True)


class DryRunSchema(Schema):
    event = fields.Nested(EventInputSchema, metadata={"description": "An event to try the rule on"})
    event_id = fields.String(
        validate=validate.Length(max=64), metadata={"description": "Or the id (evt_...) of a stored event"}
    )

    @validates_schema
    def _one(self, data, **kwargs):
        if ("event" in data) == ("event_id" in data):
            raise ValidationError("Give either 'event' or 'event_id'.", field_name="event")


class RuleDryRunSchema(DryRunSchema):
    rule = fields.Nested(RuleDraftSchema, required=True)


class DryRunResultSchema(Schema):
    triggered = fields.Boolean()
    matched = fields.Boolean()
    loop_stopped = fields.String(allow_none=True)
    would_act = fields.Boolean()
    customer_found = fields.Boolean()
    trace = fields.Raw()
    actions = fields.List(fields.Dict())


def _event_input(args) -> dict:
    if "event_id" in args:
        row = OutboxEvent.get_or_none(OutboxEvent.uid == args["event_id"])
        if row is None:
            raise APIError(404, f"No event {args['event_id']}.")

        if not permissions.can(current_actor(), "events", "read"):
            # stored events may carry any record's data: only readers of the outbox replay them
            raise APIError(403, "Dry-running a stored event needs events:read; send the event instead.")
        return {
            "event_type": row.type,
            "data": row.data,
            "customer_id": row.customer_id,
            "meta": row.meta,
            "depth": row.depth,
        }
    event = args["event"]
    return {"event_type": event["type"], "data": event["data"], "customer_id": event.get("customer_id")}


def _check_customer(actor, customer_id):
    """Dry runs read the customer: only one the caller may read."""
    if customer_id is None:
        return

    permissions.get_record(Customer, customer_id, actor, "customers")


@blp.route("/automations/dry-run")
class DryRunNew(MethodView):
    @blp.arguments(RuleDryRunSchema)
    @blp.response(200, DryRunResultSchema)
    def post(self, args):
        """Evaluate an unsaved rule against an event without acting (for the rule editor)."""

        actor = current_actor()
        permissions.require(actor, RESOURCE, "create")
        event = _event_input(args)
        _check_customer(actor, event["customer_id"])
        return dry_run(args["rule"], **event)


@blp.route("/automations/<int:record_id>/dry-run")
class DryRun(MethodView):
    @blp.arguments(DryRunSchema)
    @blp.response(200, DryRunResultSchema)
    def post(self, args, record_id):
        """Evaluate this rule against an event without acting: trigger, loop check, the condition
        trace (each comparison with its actual value) and the actions it would run."""
        actor = current_actor()
        rule = crud.get(record_id, actor)
        event = _event_input(args)
        _check_customer(actor, event["customer_id"])
        rule_dict = {
            "id": rule.id,
            "trigger": rule.trigger,
            "conditions": rule.conditions,
            "actions": rule.actions,
        }
        return dry_run(rule_dict, **event)


class RunSchema(Schema):
    id = fields.Integer()
    rule_id = fields.Integer(attribute="rule_id")
    event_id = fields.String()
    event_type = fields.String()
    customer_id = fields.Integer(allow_none=True)
    matched = fields.Boolean()
    status = fields.String(metadata={"description": "succeeded, skipped, retrying, failed, loop_stopped"})
    results = fields.List(fields.Dict())
    trace = fields.Raw(allow_none=True)
    attempts = fields.Integer()
    next_attempt_at = UTCDateTime(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = UTCDateTime()
    finished_at = UTCDateTime()


class RunQuerySchema(Schema):
    status = fields.String(
        validate=validate.OneOf(["succeeded", "skipped", "retrying", "failed", "loop_stopped"])
    )
    matched = fields.Boolean()
    event_type = fields.String(validate=validate.Length(max=150))


@blp.route("/automations/<int:record_id>/runs")
class Runs(MethodView):
    @blp.arguments(RunQuerySchema, location="query")
    @blp.response(200, RunSchema(many=True))
    @blp.paginate()
    def get(self, args, record_id, pagination_parameters):
        """The rule's runs, newest first: matched or not, each action's outcome, errors."""
        rule = crud.get(record_id, current_actor())
        query = AutomationRun.select().where(AutomationRun.rule == rule).order_by(AutomationRun.id.desc())
        for key in ("status", "matched", "event_type"):
            if key in args:
                query = query.where(getattr(AutomationRun, key) == args[key])
        pagination_parameters.item_count = query.count()
        return list(query.paginate(pagination_parameters.page, pagination_parameters.page_size))


@blp.route("/automations/<int:record_id>/runs/<int:run_id>/retry")
class RetryRun(MethodView):
    @blp.response(200, RunSchema)
    def post(self, record_id, run_id):
        """Run a failed (or retrying) run's remaining actions now; returns the run."""
        rule = crud.get(record_id, current_actor(), "update")
        run = AutomationRun.get_or_none(AutomationRun.id == run_id, AutomationRun.rule == rule)
        if run is None:
            raise APIError(404, f"No run {run_id} of rule {rule.id}.")
        if run.status not in (FAILED, RETRYING):
            raise APIError(409, f"Run {run_id} is {run.status}; only failed or retrying runs can be retried.")
        with database.atomic():
            run.attempts = 0  # a manual retry gets a fresh set of attempts
            return retry_run(run)
