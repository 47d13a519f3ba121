"""Running automation rules: on each committed event (a ``crm_event`` consumer), on retry (a
scheduler job), and as a dry run (nothing written).

For every active rule whose trigger matches the event: stop if the event was caused by this
rule's own actions (its id is in the event's causation chain) or the chain is too deep (a loop);
otherwise evaluate the conditions against the event, the customer and the customer's event
history, and if they hold run the actions in order as the rule's owner, each in a savepoint.
Every evaluation is logged (``automation_run``), matched or not. A failing action is retried
with backoff, resuming at that action; after ``MAX_ATTEMPTS`` the run is ``failed`` and an
``automation.failed`` event is emitted, so failures are reported, never dropped.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging

from marshmallow import ValidationError

from ..auth import actor_for_user
from ..auth.models import User
from ..db import database, is_postgres, utcnow
from ..entities.customers import serialize
from ..entities.models import Customer
from ..errors import APIError
from ..events import Event, caused_by, dispatch_cache, emit, to_json
from ..events.models import OutboxEvent
from ..events.retry import backoff_delay
from . import actions as action_registry
from .conditions import Context, evaluate
from .models import FAILED, LOOP_STOPPED, RETRYING, SKIPPED, SUCCEEDED, AutomationRule, AutomationRun

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 30
MAX_CHAIN_DEPTH = 5
HISTORY_LIMIT = 10000


def triggered(rule_trigger: str, event_type: str) -> bool:
    """True when a rule's trigger (``order.paid``, ``customer.*``) matches the event type."""
    return fnmatch.fnmatchcase(event_type, rule_trigger)


def load_customer(customer_id):
    """The ``Customer`` row, or None."""
    if customer_id is None:
        return None
    return Customer.get_or_none(Customer.id == customer_id)


def customer_view(customer) -> dict | None:
    """The customer as conditions see it: columns, ``tags`` and ``custom``."""
    if customer is None:
        return None
    return serialize(customer)


def history_lookup(customer_id, until_seq: int | None = None):
    """``history(event_type, since) -> [data]``: the customer's events of that type (newest
    first, at most 10 000), from the outbox, up to and including the outbox row ``until_seq``
    (the triggering event: events committed after it do not count)."""

    def history(event_type: str, since: dt.datetime | None) -> list[dict]:
        if customer_id is None:
            return []
        query = OutboxEvent.select(OutboxEvent.data).where(
            OutboxEvent.customer_id == customer_id, OutboxEvent.type == event_type
        )
        if since is not None:
            query = query.where(OutboxEvent.occurred_at >= since)
        if until_seq is not None:
            query = query.where(OutboxEvent.id <= until_seq)
        return [row.data for row in query.order_by(OutboxEvent.id.desc()).limit(HISTORY_LIMIT)]

    return history


def context_for(event_type: str, data: dict, customer, event: Event | None = None) -> Context:
    """What conditions see for an event: counts are "as of" the event (its time and outbox
    position), not as of the moment the dispatcher runs."""
    return Context(
        event_type=event_type,
        data=data,
        customer=customer_view(customer),
        history=history_lookup(customer.id if customer is not None else None, event.seq if event else None),
        now=event.occurred_at if event is not None and event.seq is not None else utcnow(),
    )


def loop_reason(rule_id: int, event: Event) -> str | None:
    """Why running ``rule_id`` on ``event`` would be a loop, or None."""
    if rule_id in (event.meta or {}).get("rules", []):
        return "the event was caused by this rule's own actions"
    if event.depth >= MAX_CHAIN_DEPTH:
        return f"the causation chain is {event.depth} events deep (limit {MAX_CHAIN_DEPTH})"
    return None


def process_event(event: Event) -> int:
    """Evaluate every matching active rule for ``event`` (the ``crm_event`` consumer); returns
    how many rules were evaluated. Idempotent: a rule already logged for this event is skipped."""
    cache = dispatch_cache()
    active = cache.get("automations.rules") if cache is not None else None
    if active is None:
        query = AutomationRule.select().where(AutomationRule.active == True)  # noqa: E712
        active = list(query.order_by(AutomationRule.id))
        if cache is not None:
            cache["automations.rules"] = active
    rules = [r for r in active if triggered(r.trigger, event.type)]
    if not rules:
        return 0
    done = {
        rid
        for (rid,) in AutomationRun.select(AutomationRun.rule)
        .where(AutomationRun.event_id == event.id, AutomationRun.rule.in_([r.id for r in rules]))
        .tuples()
    }
    for rule in rules:
        if rule.id in done:
            continue
        run = AutomationRun(
            rule=rule.id,
            event_id=event.id,
            event_seq=event.seq,
            event_type=event.type,
            customer_id=event.customer_id,
        )
        reason = loop_reason(rule.id, event)
        if reason:
            run.status, run.error = LOOP_STOPPED, f"loop stopped: {reason}"
            log.warning("automation rule %s not run on %s: %s", rule.id, event.id, reason)
            run.save()
            continue
        customer = load_customer(event.customer_id)
        run.matched, run.trace = evaluate(
            rule.conditions, context_for(event.type, event.data, customer, event)
        )
        if not run.matched:
            run.status = SKIPPED
            run.save()
            continue
        execute(run, rule, event, customer)
    return len(rules)


def _owner_actor(rule: AutomationRule):
    user = User.get_or_none(User.id == rule.owner_id) if rule.owner_id is not None else None
    return actor_for_user(user) if user is not None and user.is_active else None


def _permanent(exc: Exception) -> bool:
    """Failures retrying cannot fix: bad params, 4xx from the write path (except conflicts and
    rate limits, which can clear)."""
    if isinstance(exc, ValidationError):
        return True
    return isinstance(exc, APIError) and 400 <= exc.code < 500 and exc.code not in (409, 429)


def _describe(exc: Exception) -> str:
    if isinstance(exc, APIError):
        details = "; ".join(
            f"{k}: {' '.join(map(str, v))}" for k, v in (exc.data.get("errors") or {}).items()
        )
        return f"{exc.code} {exc.message}" + (f" ({details})" if details else "")
    if isinstance(exc, ValidationError):
        return f"invalid params: {exc.messages}"
    return f"{type(exc).__name__}: {exc}"


def execute(run: AutomationRun, rule: AutomationRule, event: Event, customer) -> AutomationRun:
    """Run (or resume) the rule's actions for ``event`` and save ``run`` with the outcome."""
    specs = action_registry.available_actions()
    results = list(run.results or [])
    if len(results) != len(rule.actions):
        results = [{"type": a.get("type"), "status": "pending", "attempts": 0} for a in rule.actions]
    actor = _owner_actor(rule)
    permanent, failure = False, None
    if actor is None:
        permanent, failure = True, "the rule's owner is missing or inactive"
    else:
        token = action_registry._actor.set(actor)
        try:
            with caused_by(event, rule_id=rule.id):
                for index, action in enumerate(rule.actions):
                    result = results[index]
                    if result["status"] == "succeeded":
                        continue
                    result["attempts"] = result.get("attempts", 0) + 1
                    spec = specs.get(action.get("type"))
                    try:
                        if spec is None:
                            raise APIError(422, f"Unknown action {action.get('type')!r} (plugin removed?).")
                        params = spec.load(action.get("params"))
                        with database.atomic():
                            value = spec.run(params, event, customer)
                        result.update(status="succeeded", result=_jsonable(value), error=None)
                    except Exception as exc:  # reported in the run, retried unless permanent
                        permanent, failure = _permanent(exc), _describe(exc)
                        result.update(status="failed", error=failure)
                        if not permanent:
                            log.warning(
                                "automation rule %s action %s failed: %s",
                                rule.id,
                                action.get("type"),
                                failure,
                            )
                        break
        finally:
            action_registry._actor.reset(token)
    run.results = results
    run.attempts = (run.attempts or 0) + 1
    run.finished_at = utcnow()
    if failure is None:
        run.status, run.error, run.next_attempt_at = SUCCEEDED, None, None
    elif permanent or run.attempts >= MAX_ATTEMPTS:
        run.status, run.error, run.next_attempt_at = FAILED, failure, None
    else:
        run.status, run.error = RETRYING, failure
        run.next_attempt_at = utcnow() + dt.timedelta(
            seconds=backoff_delay(run.attempts, base=RETRY_BASE_SECONDS)
        )
    run.save()
    if run.status == FAILED:
        emit(
            "automation.failed",
            {
                "rule_id": rule.id,
                "run_id": run.id,
                "event_id": event.id,
                "error": failure,
                # the rule's place: webhooks send it only to owners whose scope covers the rule
                "owner_id": rule.owner_id,
                "department_id": rule.department_id,
            },
            resource="automations",
            customer_id=event.customer_id,
        )
    return run


def _jsonable(value):
    try:
        return to_json(value)
    except TypeError:
        return str(value)


def retry_run(run: AutomationRun) -> AutomationRun:
    """Resume ``run`` now (the retry job and the API's manual retry)."""
    rule = AutomationRule.get_or_none(AutomationRule.id == run.rule_id)
    row = OutboxEvent.get_or_none(OutboxEvent.id == run.event_seq) if run.event_seq else None
    if rule is None or row is None:
        run.status, run.error, run.next_attempt_at = FAILED, "the rule or the event no longer exists", None
        run.save()
        return run
    event = Event.from_row(row)
    return execute(run, rule, event, load_customer(event.customer_id))


def retry_due(limit: int = 50) -> int:
    """Resume every run whose retry is due; returns how many (the scheduler job)."""
    txn = database.atomic() if is_postgres() else database.atomic("IMMEDIATE")
    with txn:
        query = (
            AutomationRun.select()
            .where(AutomationRun.status == RETRYING, AutomationRun.next_attempt_at <= utcnow())
            .order_by(AutomationRun.next_attempt_at)
            .limit(limit)
        )
        if is_postgres():
            query = query.for_update(skip_locked=True)
        runs = list(query)
        for run in runs:
            with database.atomic():
                retry_run(run)
    return len(runs)


def dry_run(rule: dict, event_type: str, data: dict, customer_id=None, meta=None, depth=0) -> dict:
    """What ``rule`` (a dict with ``trigger``, ``conditions``, ``actions``, optional ``id``) would
    do for an event, without writing anything: trigger match, loop check, condition trace, and
    the actions it would run with their validated params (or the validation errors)."""
    specs = action_registry.available_actions()
    customer = load_customer(customer_id)
    out = {"triggered": triggered(rule["trigger"], event_type), "customer_found": customer is not None}
    probe = Event(
        id="evt_dry_run", type=event_type, data=data, occurred_at=utcnow(), depth=depth, meta=meta or {}
    )
    reason = loop_reason(rule["id"], probe) if rule.get("id") else None
    out["loop_stopped"] = reason
    matched, trace = evaluate(rule.get("conditions") or {}, context_for(event_type, data, customer))
    out["matched"] = matched
    out["would_act"] = bool(out["triggered"] and matched and not reason)
    out["trace"] = trace
    planned = []
    for action in rule.get("actions") or []:
        spec = specs.get(action.get("type"))
        item = {"type": action.get("type"), "params": action.get("params") or {}}
        if spec is None:
            item["errors"] = ["Unknown action."]
        else:
            try:
                item["params"] = _jsonable(spec.load(action.get("params")))
            except ValidationError as exc:
                item["errors"] = exc.messages
            except Exception as exc:  # a plugin's broken schema
                item["errors"] = [f"{type(exc).__name__}: {exc}"]
        planned.append(item)
    out["actions"] = planned
    return out
