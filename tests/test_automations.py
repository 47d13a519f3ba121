"""Automation rules: the condition language (each form), rules reacting to committed events,
core and plugin actions, retries and failure reports, loop stopping, dry runs."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import Schema, fields

from crm_core import hookimpl
from crm_core.automations import acting_actor
from crm_core.automations.conditions import ConditionError, Context, evaluate, validate
from crm_core.automations.engine import retry_due
from crm_core.automations.models import AutomationRun
from crm_core.db import database, utcnow
from crm_core.entities.models import Activity, Customer
from crm_core.events import dispatch_pending, emit
from crm_core.events.models import OutboxEvent

NOW = dt.datetime(2026, 11, 25, 12, 0, 0)
HISTORY = {
    "order.paid": [
        {"amount": "100.00", "channel": "kol:anna"},
        {"amount": "250.50", "channel": "wechat"},
        {"amount": "49.50", "channel": "kol:anna"},
    ]
}


def ctx(data=None, customer=None):
    def history(event_type, since):
        return list(HISTORY.get(event_type, []))

    customer = (
        customer
        if customer is not None
        else {
            "id": 1,
            "name": "Ann",
            "source_channel": "kol:anna",
            "tags": ["vip", "beauty"],
            "custom": {"level": 3},
            "email": None,
        }
    )
    return Context(
        "order.paid",
        data if data is not None else {"amount": "199.00", "items": [{"sku": "A1"}]},
        customer,
        history,
        NOW,
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({}, True),
        ({"field": "event.type", "op": "eq", "value": "order.paid"}, True),
        ({"field": "event.amount", "op": "gte", "value": 199}, True),
        ({"field": "event.amount", "op": "gt", "value": "199.00"}, False),
        ({"field": "event.amount", "op": "lt", "value": "199.01"}, True),
        ({"field": "event.amount", "op": "lte", "value": "198.99"}, False),
        ({"field": "event.amount", "op": "eq", "value": "199"}, True),  # decimals, not strings
        ({"field": "event.amount", "op": "ne", "value": 199}, False),
        ({"field": "event.items.0.sku", "op": "eq", "value": "A1"}, True),
        ({"field": "event.missing", "op": "eq", "value": 1}, False),
        ({"field": "event.missing", "op": "ne", "value": 1}, True),
        ({"field": "event.missing", "op": "exists", "value": False}, True),
        ({"field": "event.amount", "op": "exists"}, True),
        ({"field": "customer.email", "op": "exists", "value": True}, False),
        ({"field": "customer.source_channel", "op": "startswith", "value": "kol:"}, True),
        ({"field": "customer.source_channel", "op": "in", "value": ["kol:anna", "kol:bo"]}, True),
        ({"field": "customer.source_channel", "op": "not_in", "value": ["kol:anna"]}, False),
        ({"field": "customer.tags", "op": "contains", "value": "vip"}, True),
        ({"field": "customer.tags", "op": "not_contains", "value": "vip"}, False),
        ({"field": "customer.name", "op": "contains", "value": "an"}, True),
        ({"field": "customer.custom.level", "op": "gte", "value": 3}, True),
        ({"field": "customer.name", "op": "gt", "value": 5}, False),  # text vs number: false, not an error
        ({"count": {"event": "order.paid", "within_days": 30}, "op": "gte", "value": 3}, True),
        ({"count": {"event": "order.paid", "within_days": 30}, "op": "gt", "value": 3}, False),
        ({"count": {"event": "order.refunded"}, "op": "eq", "value": 0}, True),
        (
            {
                "count": {
                    "event": "order.paid",
                    "where": {"field": "event.channel", "op": "startswith", "value": "kol:"},
                },
                "op": "eq",
                "value": 2,
            },
            True,
        ),
        (
            {
                "sum": {"event": "order.paid", "field": "amount", "within_days": 30},
                "op": "eq",
                "value": "400.00",
            },
            True,
        ),
        ({"sum": {"event": "order.paid", "field": "amount"}, "op": "gt", "value": 400}, False),
        (
            {
                "and": [
                    {"field": "event.amount", "op": "gt", "value": 1},
                    {"field": "customer.tags", "op": "contains", "value": "vip"},
                ]
            },
            True,
        ),
        (
            {
                "and": [
                    {"field": "event.amount", "op": "gt", "value": 1},
                    {"field": "customer.tags", "op": "contains", "value": "x"},
                ]
            },
            False,
        ),
        (
            {
                "or": [
                    {"field": "event.amount", "op": "gt", "value": 1000},
                    {"field": "customer.tags", "op": "contains", "value": "vip"},
                ]
            },
            True,
        ),
        (
            {
                "or": [
                    {"field": "event.amount", "op": "gt", "value": 1000},
                    {"field": "customer.name", "op": "eq", "value": "Bo"},
                ]
            },
            False,
        ),
        ({"not": {"field": "customer.tags", "op": "contains", "value": "vip"}}, False),
        ({"not": {"not": {"field": "customer.tags", "op": "contains", "value": "vip"}}}, True),
    ],
)
def test_condition_forms(condition, expected):
    validate(condition)
    result, trace = evaluate(condition, ctx())
    assert result is expected
    assert trace["result"] is expected


def test_conditions_without_customer_are_false_not_errors():
    result, trace = evaluate(
        {"field": "customer.tags", "op": "contains", "value": "vip"}, Context("x.y", {}, None, None, NOW)
    )
    assert result is False and trace["actual"] is None
    assert evaluate(
        {"count": {"event": "order.paid"}, "op": "eq", "value": 0}, Context("x.y", {}, None, None, NOW)
    )[0]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ([], "must be an object"),
        ({"and": []}, "non-empty list"),
        ({"and": [{}], "or": [{}]}, "cannot be combined"),
        ({"field": "event.x", "op": "like", "value": 1}, "conditions.op"),
        ({"field": "event.x", "op": "eq"}, "value: required"),
        ({"field": "order.x", "op": "eq", "value": 1}, "must start with"),
        ({"field": "event.x", "op": "in", "value": 1}, "must be a list"),
        ({"count": {"within_days": 30}, "op": "gte", "value": 1}, "count.event"),
        ({"count": {"event": "order.paid", "within_days": 0}, "op": "gte", "value": 1}, "within_days"),
        ({"sum": {"event": "order.paid"}, "op": "gte", "value": 1}, "sum.field"),
        ({"not": {"field": "event.x", "op": "eq", "value": 1}, "x": 1}, "cannot be combined"),
        ({"and": [{"field": "event.x", "op": "bogus", "value": 1}]}, "conditions.and[0].op"),
        ({"field": "event.x", "op": "eq", "value": 1, "extra": 2}, "unknown key"),
    ],
)
def test_invalid_conditions_are_rejected_with_their_path(condition, message):
    with pytest.raises(ConditionError) as info:
        validate(condition)
    assert message in str(info.value)


comparison = st.builds(
    lambda field, op, value: {"field": field, "op": op, "value": value},
    st.sampled_from(
        ["event.amount", "customer.tags", "customer.name", "event.missing", "customer.custom.level"]
    ),
    st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "contains", "not_contains", "startswith"]),
    st.one_of(st.integers(-5, 500), st.text(max_size=5), st.decimals(-1000, 1000, places=2).map(str)),
)
conditions = st.recursive(
    comparison,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"and": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"or": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)


@given(conditions)
def test_boolean_algebra_holds(condition):
    validate(condition)
    value = evaluate(condition, ctx())[0]
    assert evaluate({"not": condition}, ctx())[0] is (not value)
    assert evaluate({"and": [condition, {"not": condition}]}, ctx())[0] is False
    assert evaluate({"or": [condition, {"not": condition}]}, ctx())[0] is True


# --- end to end --------------------------------------------------------------------------------


class Coupons:
    """A plugin offering an action; fails the first ``failures`` calls (temporarily)."""

    def __init__(self, failures=0):
        self.failures = failures
        self.issued = []

    class Params(Schema):
        value = fields.Decimal(required=True, as_string=True)

    def issue(self, params, event, customer):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("coupon service unavailable")
        self.issued.append((customer.id, params["value"], event.id, acting_actor().id))
        return {"coupon": f"C-{len(self.issued)}"}

    @hookimpl
    def crm_actions(self):
        return [
            {"name": "coupons.issue", "label": "Issue a coupon", "schema": self.Params, "run": self.issue}
        ]


@pytest.fixture
def coupons_app(register_plugin):
    plugin = Coupons()
    application = register_plugin(plugin, "coupons")
    with application.app_context():
        yield application, plugin


@pytest.fixture
def api(coupons_app, make_user):
    application, plugin = coupons_app
    client = application.test_client()
    user, headers = make_user("rules_admin")
    with application.app_context():  # make_user's app was pushed last: the plugin's app wins
        yield client, headers, plugin, user


def _customer(client, headers, **fields):
    r = client.post("/api/v1/customers", json={"name": "Ann", **fields}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _rule(client, headers, **body):
    r = client.post("/api/v1/automations", json={"name": "rule", **body}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _paid(customer_id, amount="100.00", days_ago=0):
    with database.atomic():
        event = emit(
            "order.paid",
            {"order_id": 1, "customer_id": customer_id, "amount": decimal.Decimal(amount), "currency": "CNY"},
        )
    if days_ago:
        when = utcnow() - dt.timedelta(days=days_ago)
        OutboxEvent.update(occurred_at=when).where(OutboxEvent.uid == event.id).execute()
    return event


KOL_VIP = {
    "trigger": "order.paid",
    "conditions": {
        "and": [
            {"field": "customer.source_channel", "op": "startswith", "value": "kol:"},
            {"count": {"event": "order.paid", "within_days": 30}, "op": "gte", "value": 3},
            {"not": {"field": "customer.tags", "op": "contains", "value": "vip"}},
        ]
    },
    "actions": [
        {"type": "add_tag", "params": {"tag": "vip"}},
        {"type": "create_task", "params": {"subject": "Welcome call for a new VIP", "due_in_hours": 48}},
        {"type": "coupons.issue", "params": {"value": "20.00"}},
    ],
}


def test_kol_customer_with_three_paid_orders_gets_vip_task_and_coupon(api):
    client, headers, coupons, user = api
    cust = _customer(client, headers, source_channel="kol:anna")
    other = _customer(client, headers, name="Bo", email="bo@example.com", source_channel="wechat")
    rule = _rule(client, headers, **KOL_VIP)
    _paid(cust["id"], days_ago=40)  # outside the 30-day window
    _paid(cust["id"])
    _paid(other["id"])
    _paid(other["id"])
    _paid(other["id"])
    dispatch_pending()
    runs = client.get(f"/api/v1/automations/{rule['id']}/runs", headers=headers).get_json()
    assert {r["status"] for r in runs} == {"skipped"} and len(runs) == 5
    assert "vip" not in client.get(f"/api/v1/customers/{cust['id']}", headers=headers).get_json()["tags"]

    _paid(cust["id"])
    third = _paid(cust["id"])
    dispatch_pending()
    runs = client.get(f"/api/v1/automations/{rule['id']}/runs?status=succeeded", headers=headers).get_json()
    assert len(runs) == 1 and runs[0]["event_id"] == third.id and runs[0]["matched"]
    assert [a["status"] for a in runs[0]["results"]] == ["succeeded"] * 3
    assert runs[0]["trace"]["and"][1]["actual"] == 3
    assert client.get(f"/api/v1/customers/{cust['id']}", headers=headers).get_json()["tags"] == ["vip"]
    task = Activity.get(Activity.customer == cust["id"], Activity.kind == "task")
    assert task.subject == "Welcome call for a new VIP" and task.owner_id == cust["owner_id"]
    assert coupons.issued == [(cust["id"], decimal.Decimal("20.00"), third.id, user.id)]
    # the tag change is an event caused by the rule: it carries the rule in its chain
    tagged = (
        OutboxEvent.select()
        .where(OutboxEvent.type == "customer.updated")
        .order_by(OutboxEvent.id.desc())
        .first()
    )
    assert (
        tagged.meta["rules"] == [rule["id"]]
        and tagged.causation_id == OutboxEvent.get(OutboxEvent.uid == third.id).id
    )
    # a fourth order does nothing more: the customer is VIP already
    _paid(cust["id"])
    dispatch_pending()
    assert len(coupons.issued) == 1


def test_rule_triggering_itself_is_stopped(api):
    client, headers, _, _ = api
    cust = _customer(client, headers)
    dispatch_pending()  # customer.created is handled before the rule exists
    rule = _rule(
        client,
        headers,
        trigger="customer.*",
        actions=[{"type": "add_tag", "params": {"tag": "touched"}}],
    )
    client.patch(f"/api/v1/customers/{cust['id']}", json={"name": "Ann Li"}, headers=headers)
    dispatch_pending()
    runs = client.get(f"/api/v1/automations/{rule['id']}/runs", headers=headers).get_json()
    assert [r["status"] for r in runs] == ["loop_stopped", "succeeded"]
    assert "caused by this rule" in runs[0]["error"]
    assert dispatch_pending() == 0


def test_failing_action_is_retried_then_reported(api):
    client, headers, coupons, _ = api
    cust = _customer(client, headers)
    coupons.failures = 2
    rule = _rule(
        client,
        headers,
        trigger="order.paid",
        actions=[
            {"type": "add_tag", "params": {"tag": "buyer"}},
            {"type": "coupons.issue", "params": {"value": "5"}},
        ],
    )
    _paid(cust["id"])
    dispatch_pending()
    run = AutomationRun.get()
    assert run.status == "retrying" and run.attempts == 1 and "coupon service unavailable" in run.error
    assert [r["status"] for r in run.results] == ["succeeded", "failed"]
    assert run.next_attempt_at > utcnow()
    for _ in range(2):
        AutomationRun.update(next_attempt_at=utcnow() - dt.timedelta(seconds=1)).execute()
        assert retry_due() == 1
    run = AutomationRun.get()
    assert run.status == "succeeded" and run.attempts == 3
    assert [r["attempts"] for r in run.results] == [1, 3]  # the tag was added once, not re-run
    assert len(coupons.issued) == 1

    coupons.failures = 100
    _paid(cust["id"])
    dispatch_pending()
    run = AutomationRun.select().order_by(AutomationRun.id.desc()).get()
    for _ in range(10):
        if run.status != "retrying":
            break
        AutomationRun.update(next_attempt_at=utcnow() - dt.timedelta(seconds=1)).where(
            AutomationRun.id == run.id
        ).execute()
        retry_due()
        run = AutomationRun.get_by_id(run.id)
    assert run.status == "failed" and run.attempts == 5
    failed = OutboxEvent.get(OutboxEvent.type == "automation.failed")
    assert failed.data["rule_id"] == rule["id"] and failed.data["run_id"] == run.id
    r = client.get(f"/api/v1/automations/{rule['id']}/runs?status=failed", headers=headers).get_json()
    assert len(r) == 1 and "coupon service unavailable" in r[0]["error"]
    coupons.failures = 0
    r = client.post(f"/api/v1/automations/{rule['id']}/runs/{run.id}/retry", headers=headers)
    assert r.status_code == 200 and r.get_json()["status"] == "succeeded"
    assert (
        client.post(f"/api/v1/automations/{rule['id']}/runs/{run.id}/retry", headers=headers).status_code
        == 409
    )


def test_actions_run_as_rule_owner_and_permission_failures_are_not_retried(api, make_user):
    client, headers, _, _ = api
    cust = _customer(client, headers)
    readonly_user, readonly = make_user("reader", roles=("readonly",))
    rule = _rule(client, headers, trigger="order.paid", actions=[{"type": "add_tag", "params": {"tag": "x"}}])
    from crm_core.automations.models import AutomationRule

    AutomationRule.update(owner_id=readonly_user.id).execute()  # the rule now belongs to a read-only user
    _paid(cust["id"])
    dispatch_pending()
    run = AutomationRun.get()
    assert run.status == "failed" and run.attempts == 1 and run.error.startswith("403")
    assert client.get(f"/api/v1/customers/{cust['id']}", headers=headers).get_json()["tags"] == []
    assert rule["id"] == run.rule_id


def test_remove_tag_assign_owner_and_send_webhook(api, make_user):
    client, headers, _, _ = api
    seller, _ = make_user("seller", roles=("sales",))
    cust = _customer(client, headers, tags=["new", "lead"])
    r = client.post(
        "/api/v1/webhooks", json={"url": "https://93.184.216.34/hook", "events": ["deal.*"]}, headers=headers
    )
    assert r.status_code == 201, r.get_json()
    sub = r.get_json()
    _rule(
        client,
        headers,
        trigger="order.paid",
        actions=[
            {"type": "remove_tag", "params": {"tag": "new"}},
            {"type": "assign_owner", "params": {"user_id": seller.id}},
            {"type": "send_webhook", "params": {"subscription_id": sub["id"]}},
        ],
    )
    paid = _paid(cust["id"])
    dispatch_pending()
    assert AutomationRun.get().status == "succeeded", AutomationRun.get().error
    after = Customer.get_by_id(cust["id"])
    assert after.tags == ["lead"] and after.owner_id == seller.id
    from crm_core.webhooks.models import WebhookDelivery

    assert [d.message_id for d in WebhookDelivery.select()] == [paid.id]  # sent despite the deal.* filter


def test_rule_validation_and_actions_listing(api):
    client, headers, _, _ = api
    cases = [
        ({"trigger": "Order Paid", "actions": [{"type": "add_tag", "params": {"tag": "x"}}]}, "trigger"),
        ({"trigger": "order.paid", "actions": []}, "actions"),
        ({"trigger": "order.paid", "actions": [{"type": "nope"}]}, "Unknown action"),
        ({"trigger": "order.paid", "actions": [{"type": "add_tag", "params": {}}]}, "tag"),
        (
            {"trigger": "order.paid", "actions": [{"type": "coupons.issue", "params": {"value": "abc"}}]},
            "value",
        ),
        (
            {
                "trigger": "order.paid",
                "conditions": {"field": "x.y", "op": "eq", "value": 1},
                "actions": [{"type": "add_tag", "params": {"tag": "x"}}],
            },
            "conditions",
        ),
    ]
    for body, needle in cases:
        r = client.post("/api/v1/automations", json={"name": "bad", **body}, headers=headers)
        assert r.status_code == 422, body
        assert needle in str(r.get_json()), (body, r.get_json())
    _rule(
        client,
        headers,
        name="paid",
        trigger="order.paid",
        actions=[{"type": "add_tag", "params": {"tag": "x"}}],
    )
    _rule(
        client,
        headers,
        name="any",
        trigger="customer.*",
        actions=[{"type": "add_tag", "params": {"tag": "y"}}],
    )
    listed = client.get("/api/v1/automations?trigger=order.paid", headers=headers)
    assert listed.status_code == 200 and [r["name"] for r in listed.get_json()] == ["paid"]
    assert client.get("/api/v1/automations?bogus=1", headers=headers).status_code == 400
    names = {a["name"]: a for a in client.get("/api/v1/automations/actions", headers=headers).get_json()}
    assert {"add_tag", "remove_tag", "create_task", "assign_owner", "send_webhook", "coupons.issue"} <= set(
        names
    )
    assert names["coupons.issue"]["plugin"] == "coupons" and names["add_tag"]["params"]["tag"]["required"]


def test_dry_run_evaluates_without_acting(api, make_user):
    client, headers, coupons, _ = api
    cust = _customer(client, headers, source_channel="kol:anna")
    rule = _rule(client, headers, **KOL_VIP)
    for _ in range(3):
        _paid(cust["id"])
    event = {"type": "order.paid", "data": {"amount": "10.00"}, "customer_id": cust["id"]}
    r = client.post(f"/api/v1/automations/{rule['id']}/dry-run", json={"event": event}, headers=headers)
    assert r.status_code == 200, r.get_json()
    result = r.get_json()
    assert (
        result["triggered"] and result["matched"] and result["would_act"] and result["loop_stopped"] is None
    )
    assert result["trace"]["and"][1]["actual"] == 3
    assert [a["type"] for a in result["actions"]] == ["add_tag", "create_task", "coupons.issue"]
    assert result["actions"][2]["params"] == {"value": "20.00"}
    r = client.post(
        "/api/v1/automations/dry-run",
        json={
            "rule": {"trigger": "customer.*", "actions": [{"type": "add_tag", "params": {"tag": "x"}}]},
            "event": event,
        },
        headers=headers,
    )
    assert r.status_code == 200 and r.get_json()["triggered"] is False
    stored = OutboxEvent.select().where(OutboxEvent.type == "order.paid").first()
    r = client.post(
        f"/api/v1/automations/{rule['id']}/dry-run", json={"event_id": stored.uid}, headers=headers
    )
    assert r.status_code == 200 and r.get_json()["matched"] is True
    assert (
        client.post(f"/api/v1/automations/{rule['id']}/dry-run", json={}, headers=headers).status_code == 422
    )
    assert AutomationRun.select().count() == 0 and coupons.issued == []
    assert Customer.get_by_id(cust["id"]).tags == []
    _, stranger = make_user("stranger", roles=("sales",))
    assert client.post(
        f"/api/v1/automations/{rule['id']}/dry-run", json={"event": event}, headers=stranger
    ).status_code in (403, 404)


def test_prune_keeps_runs_that_acted(api):
    from crm_core.automations.hooks import prune_runs

    client, headers, _, _ = api
    cust = _customer(client, headers)
    _rule(
        client,
        headers,
        trigger="order.paid",
        conditions={"field": "event.amount", "op": "gte", "value": 100},
        actions=[{"type": "add_tag", "params": {"tag": "big"}}],
    )
    _paid(cust["id"], amount="10.00")
    _paid(cust["id"], amount="500.00")
    dispatch_pending()
    assert sorted(r.status for r in AutomationRun.select()) == ["skipped", "succeeded"]
    AutomationRun.update(created_at=utcnow() - dt.timedelta(days=31)).execute()
    assert prune_runs() == 1
    assert [r.status for r in AutomationRun.select()] == ["succeeded"]


class DictSchemaActions:
    """A plugin describing its action's params with a JSON-Schema-like dict, not marshmallow."""

    @hookimpl
    def crm_actions(self):
        schema = {
            "type": "object",
            "required": ["sku"],
            "properties": {"sku": {"type": "string"}},
            "additionalProperties": False,
        }
        return [
            {
                "name": "shop.reserve",
                "label": "Reserve stock",
                "schema": schema,
                "run": lambda p, e, c: {"sku": p["sku"]},
            }
        ]


def test_plugin_action_with_dict_schema(register_plugin, make_user):
    application = register_plugin(DictSchemaActions(), "shop")
    _, headers = make_user("dict_admin")
    client = application.test_client()
    with application.app_context():
        body = {"name": "r", "trigger": "order.paid"}
        for params, status in [({"sku": "A1"}, 201), ({}, 422), ({"sku": "A1", "qty": 2}, 422)]:
            r = client.post(
                "/api/v1/automations",
                json={**body, "actions": [{"type": "shop.reserve", "params": params}]},
                headers=headers,
            )
            assert r.status_code == status, (params, r.get_json())
        actions = {
            a["name"]: a for a in client.get("/api/v1/automations/actions", headers=headers).get_json()
        }
        assert actions["shop.reserve"]["params"] == {"sku": {"type": "string", "required": True}}
        with database.atomic():
            emit("order.paid", {"order_id": 1})
        dispatch_pending()
        run = AutomationRun.get()
        assert run.status == "succeeded" and run.results[0]["result"] == {"sku": "A1"}


@pytest.mark.parametrize("days, code", [(730, 201), (731, 422), (3650, 422)])
def test_a_window_longer_than_the_outbox_keeps_events_is_refused(client, admin_headers, days, code):
    """Counting 1,000 days of orders where the outbox keeps 730 would count too few, silently."""
    rule = {
        "name": f"window {days}",
        "trigger": "order.paid",
        "conditions": {"count": {"event": "order.paid", "within_days": days}, "op": "gte", "value": 3},
        "actions": [{"type": "add_tag", "params": {"tag": "loyal"}}],
    }
    r = client.post("/api/v1/automations", json=rule, headers=admin_headers)
    assert r.status_code == code, r.get_json()
    if code == 422:
        assert "OUTBOX_RETENTION_DAYS" in json.dumps(r.get_json()) and "730" in json.dumps(r.get_json())
