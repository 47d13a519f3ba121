"""The segment filter builder and the automation rule builder (Flask test client).

Issue 15 saw segments and automations needing hand-written JSON (``lifecycle_stage=vip`` was
refused with "not valid JSON") and automations showing their actions as ``\\uXXXX`` escapes.
These tests build both without JSON, check the live count stays inside the actor's scope and
never touches a hidden field, load stored filters and rules back faithfully, and refuse bad
input with per-field messages in the user's language.
"""

from __future__ import annotations

import re

import pytest

from crm_core import hookimpl
from crm_core.browser_testing import post_form, web_login

SECRET_SCORE = 987_654_321


@pytest.fixture
def setup(app, client, make_user):
    """An admin (logged in on ``client``), two departments, a custom field ``credit_score``, a
    ``rep`` in North whose role hides ``credit_score`` and reads customers of its department only,
    and customers: two VIPs in North, one VIP and one lead in South."""
    _admin, h = make_user("boss", roles=("admin",))
    api = app.test_client()
    for name in ("North", "South"):
        assert api.post("/api/v1/departments", json={"name": name}, headers=h).status_code == 201
    r = api.post(
        "/api/v1/fields/customers",
        json={"name": "credit_score", "type": "int", "label": {"en": "Credit score", "zh-CN": "信用评分"}},
        headers=h,
    )
    assert r.status_code == 201, r.get_json()
    grants = [{"resource": "customers", "action": "read", "scope": "department"}] + [
        {"resource": r, "action": a, "scope": "all"}
        for r in ("segments", "automations")
        for a in ("read", "create", "update")
    ]
    rules = [{"resource": "customers", "field": "credit_score", "rule": "hidden"}]
    r = api.post("/api/v1/roles", json={"name": "rep", "grants": grants, "field_rules": rules}, headers=h)
    assert r.status_code == 201, r.get_json()
    make_user("rep", roles=("rep",), department_id=1)
    people = [
        ("North VIP 1", 1, "vip", 100),
        ("North VIP 2", 1, "vip", 900),
        ("South VIP", 2, "vip", 900),
        ("South lead", 2, "lead", 900),
    ]
    ids = {}
    for name, dept, stage, score in people:
        r = api.post(
            "/api/v1/customers",
            json={
                "name": name,
                "department_id": dept,
                "lifecycle_stage": stage,
                "custom": {"credit_score": score},
            },
            headers=h,
        )
        assert r.status_code == 201, r.get_json()
        ids[name] = r.get_json()["id"]
    web_login(client, "boss")
    return {"api": api, "h": h, "ids": ids}


def login_as(app, username):
    other = app.test_client()
    assert web_login(other, username).status_code == 302
    return other


def _id_of(location: str) -> int:
    return int(location.rstrip("/").rsplit("/", 1)[1])


def _segment(setup, sid):
    return setup["api"].get(f"/api/v1/segments/{sid}", headers=setup["h"]).get_json()


def _rule(setup, rid):
    return setup["api"].get(f"/api/v1/automations/{rid}", headers=setup["h"]).get_json()


# --- segments --------------------------------------------------------------------------------------


def test_segment_lifecycle_stage_vip_without_json(client, setup):
    """What was seen: ``lifecycle_stage=vip`` typed into the filters box was refused as not JSON.
    The builder saves it from a field, an operator and a choice."""
    r = client.get("/records/segments/new")
    assert r.status_code == 302 and r.headers["Location"].endswith("/segments/new")
    html = client.get("/segments/new").get_data(as_text=True)
    assert 'name="f-0-field"' in html and 'value="lifecycle_stage"' in html
    assert "<script>" not in html and 'name="filters"' not in html, "no JSON box, no inline script"
    r = post_form(
        client,
        "/segments/new",
        {"name": "VIPs", "f-0-field": "lifecycle_stage", "f-0-op": "eq", "f-0-value": "vip"},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    segment = _segment(setup, _id_of(r.headers["Location"]))
    assert segment["filters"] == {"lifecycle_stage": "vip"}
    count = setup["api"].get(f"/api/v1/segments/{segment['id']}/count", headers=setup["h"]).get_json()
    assert count == {"count": 3}


def test_live_count_respects_scope_and_hidden_fields(app, client, setup):
    rows = {"f-0-field": "lifecycle_stage", "f-0-op": "eq", "f-0-value": "vip"}
    r = post_form(client, "/segments/count", rows, page="/segments/new")
    assert r.status_code == 200 and r.get_json()["count"] == 3
    rep = login_as(app, "rep")
    r = post_form(rep, "/segments/count", rows, page="/segments/new")
    assert r.status_code == 200 and r.get_json()["count"] == 2, "only the rep's department"
    # the admin may filter on credit_score; the rep is never offered it and cannot count with it
    score = {"f-0-field": "credit_score", "f-0-op": "gte", "f-0-value": "500"}
    r = post_form(client, "/segments/count", score, page="/segments/new")
    assert r.get_json()["count"] == 3
    form = rep.get("/segments/new").get_data(as_text=True)
    assert "credit_score" not in form and "Credit score" not in form
    r = post_form(rep, "/segments/count", score, page="/segments/new")
    assert r.status_code == 422 and "count" not in r.get_json()
    assert r.get_json()["errors"]["f-0-field"]
    r = post_form(rep, "/segments/new", {"name": "Probe", **score}, page="/segments/new")
    assert r.status_code == 422
    assert str(SECRET_SCORE) not in r.get_data(as_text=True)


def test_segment_round_trip_edit(client, setup):
    """Filters stored through the API load into rows and save back unchanged."""
    filters = {
        "lifecycle_stage": ["vip", "customer"],
        "credit_score__gte": "500",
        "tag": "vip,kol",
        "q": "North",
        "name__contains": "VIP",
    }
    r = setup["api"].post("/api/v1/segments", json={"name": "Mixed", "filters": filters}, headers=setup["h"])
    assert r.status_code == 201, r.get_json()
    sid = r.get_json()["id"]
    assert client.get(f"/records/segments/{sid}/edit").headers["Location"].endswith(f"/segments/{sid}/edit")
    html = client.get(f"/segments/{sid}/edit").get_data(as_text=True)
    data = _form_data(html)
    assert data["name"] == ["Mixed"]
    r = post_form(client, f"/segments/{sid}/edit", {k: v for k, v in data.items() if k != "csrf_token"})
    assert r.status_code == 302, r.get_data(as_text=True)
    saved = _segment(setup, sid)["filters"]
    assert {k: sorted(v) if isinstance(v, list) else v for k, v in saved.items()} == {
        k: sorted(v) if isinstance(v, list) else v for k, v in filters.items()
    }, "the same filters (a browser posts a multiple select's values in the options' order)"


def test_segment_bad_input_per_field_in_chinese(client, setup):
    assert post_form(client, "/language", {"language": "zh_CN"}, page="/").status_code == 302
    r = post_form(
        client,
        "/segments/new",
        {
            "name": "",
            "f-0-field": "credit_score",
            "f-0-op": "gte",
            "f-0-value": "many",
            "f-1-field": "lifecycle_stage",
            "f-1-op": "eq",
            "f-1-value": "nonsense",
        },
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422, html
    errors = dict(re.findall(r'<small class="crm-field-error" data-field="([^"]+)">([^<]+)</small>', html))
    assert set(errors) >= {"f-0-value", "f-1-value"}
    assert all(re.search(r"[\u4e00-\u9fff]", m) for m in errors.values()), errors
    assert 'value="many"' in html, "what was typed is kept"


# --- automations -----------------------------------------------------------------------------------


def test_automation_with_an_action_and_parameters(client, setup):
    r = client.get("/records/automations/new")
    assert r.headers["Location"].endswith("/automations/new")
    html = client.get("/automations/new").get_data(as_text=True)
    assert 'value="customer.created"' in html and 'value="order.paid"' in html
    assert 'data-switch-value="create_task"' in html and 'name="a-__i__-p-subject"' in html
    r = post_form(
        client,
        "/automations/new",
        {
            "name": "欢迎新的贵宾",
            "trigger_choice": "customer.updated",
            "match": "and",
            "c-0-field": "customer.lifecycle_stage",
            "c-0-op": "eq",
            "c-0-value": "vip",
            "c-1-field": "event.",
            "c-1-key": "object.name",
            "c-1-op": "startswith",
            "c-1-value": "North",
            "a-0-type": "create_task",
            "a-0-p-subject": "自动欢迎电话",
            "a-0-p-due_in_hours": "48",
            "a-0-p-assignee": "rule_owner",
            "a-1-type": "add_tag",
            "a-1-p-tag": "贵宾",
            "active": "on",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    rid = _id_of(r.headers["Location"])
    rule = _rule(setup, rid)
    assert rule["trigger"] == "customer.updated"
    assert rule["conditions"] == {
        "and": [
            {"field": "customer.lifecycle_stage", "op": "eq", "value": "vip"},
            {"field": "event.object.name", "op": "startswith", "value": "North"},
        ]
    }
    assert rule["actions"] == [
        {
            "type": "create_task",
            "params": {"subject": "自动欢迎电话", "due_in_hours": 48, "assignee": "rule_owner"},
        },
        {"type": "add_tag", "params": {"tag": "贵宾"}},
    ]
    # what was seen: the detail page showed actions as \u81ea\u52a8... escapes
    detail = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "\\u81ea" not in detail and "\\u" not in detail
    summary = detail[detail.index('id="rule-summary"') :]
    assert "Create a task on the customer" in summary and "自动欢迎电话" in summary
    assert "the rule&#39;s owner" in summary and "贵宾" in summary
    # the dry run still works on the built rule
    cid = setup["ids"]["North VIP 1"]
    r = post_form(
        client,
        f"/records/automations/{rid}/dry-run",
        {
            "event_type": "customer.updated",
            "event_data": '{"object": {"name": "North VIP 1"}}',
            "customer_id": str(cid),
        },
        page=f"/records/automations/{rid}",
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-would-act="true"' in html, html
    assert "\\u" not in html and "自动欢迎电话" in html


def test_automation_round_trip_edit(client, setup):
    """A rule made through the API (with a count aggregate the rows cannot show) loads into the
    builder and saves back unchanged."""
    body = {
        "name": "KOL buyers",
        "trigger": "order.*",
        "conditions": {
            "or": [
                {"field": "customer.source_channel", "op": "startswith", "value": "kol:"},
                {"count": {"event": "order.paid", "within_days": 30}, "op": "gte", "value": 3},
                # (in the choices' order: a browser posts a multiple select's values that way)
                {"field": "customer.lifecycle_stage", "op": "in", "value": ["customer", "vip"]},
                {"field": "event.amount", "op": "exists", "value": False},
                {
                    "sum": {"event": "order.paid", "field": "amount", "within_days": 90},
                    "op": "gte",
                    "value": "1000.50",
                },
                {"not": {"field": "customer.tags", "op": "contains", "value": "vip"}},
            ]
        },
        "actions": [
            {"type": "add_tag", "params": {"tag": "kol"}},
            {"type": "create_task", "params": {"subject": "Call", "body": "多谢", "due_in_hours": 2}},
        ],
        "active": False,
    }
    r = setup["api"].post("/api/v1/automations", json=body, headers=setup["h"])
    assert r.status_code == 201, r.get_json()
    rid = r.get_json()["id"]
    html = client.get(f"/automations/{rid}/edit").get_data(as_text=True)
    data = _form_data(html)
    assert data["trigger_choice"] == ["__other__"] and data["trigger_custom"] == ["order.*"]
    assert "active" not in data
    # the aggregates are rows of the builder; the "not" is kept as written
    assert (
        data["c-1-field"] == ["count"] and data["c-1-event"] == ["order.paid"] and data["c-1-days"] == ["30"]
    )
    assert data["c-4-field"] == ["sum"] and data["c-4-key"] == ["amount"]
    assert "c-5-raw" in data and "c-5-field" not in data
    r = post_form(client, f"/automations/{rid}/edit", {k: v for k, v in data.items() if k != "csrf_token"})
    assert r.status_code == 302, r.get_data(as_text=True)
    rule = _rule(setup, rid)
    assert {k: rule[k] for k in body} == body


def test_automation_bad_input_per_field(client, setup):
    r = post_form(
        client,
        "/automations/new",
        {
            "name": "Broken",
            "trigger_choice": "",
            "c-0-field": "event.",
            "c-0-key": "bad key!",
            "c-0-op": "eq",
            "c-0-value": "x",
            "a-0-type": "create_task",
            "a-0-p-subject": "",
            "a-0-p-due_in_hours": "soon",
        },
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    errors = dict(re.findall(r'<small class="crm-field-error" data-field="([^"]+)">([^<]+)</small>', html))
    assert {"trigger", "c-0-key", "a-0-p-subject", "a-0-p-due_in_hours"} <= set(errors), errors
    assert errors["a-0-p-due_in_hours"] == "Give a whole number."
    assert 'value="soon"' in html, "what was typed is kept"
    r = post_form(client, "/automations/new", {"name": "No actions", "trigger_choice": "order.paid"})
    assert r.status_code == 422 and "Add at least one action." in r.get_data(as_text=True)


def test_automation_conditions_never_offer_hidden_fields(app, setup):
    rep = login_as(app, "rep")
    html = rep.get("/automations/new").get_data(as_text=True)
    assert "customer.custom.credit_score" not in html and "Credit score" not in html
    r = post_form(
        rep,
        "/automations/new",
        {
            "name": "Probe",
            "trigger_choice": "order.paid",
            "c-0-field": "customer.custom.credit_score",
            "c-0-op": "gte",
            "c-0-value": "1",
            "a-0-type": "add_tag",
            "a-0-p-tag": "x",
        },
    )
    assert r.status_code == 422
    assert "c-0-field" in r.get_data(as_text=True)


# --- helpers ---------------------------------------------------------------------------------------


def _form_data(html: str) -> dict[str, list[str]]:
    """The values a browser would post for the builder form (templates left out)."""
    from html.parser import HTMLParser

    form = html[html.index('<form method="post" novalidate') :]
    form = form[: form.index("</form>")]
    form = re.sub(r"<template.*?</template>", "", form, flags=re.S)
    data: dict[str, list[str]] = {}

    class Parser(HTMLParser):
        select = None
        textarea = None
        text = ""

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "input" and a.get("name"):
                kind = a.get("type", "text")
                if kind == "checkbox" and "checked" not in a:
                    return
                data.setdefault(a["name"], []).append(a.get("value", "on" if kind == "checkbox" else ""))
            elif tag == "select":
                self.select = a.get("name")
                self.first = None
                self.chosen = False
            elif tag == "option" and self.select:
                if self.first is None:
                    self.first = a.get("value", "")
                if "selected" in a:
                    data.setdefault(self.select, []).append(a.get("value", ""))
                    self.chosen = True
            elif tag == "textarea":
                self.textarea = a.get("name")
                self.text = ""

        def handle_endtag(self, tag):
            if tag == "select" and self.select:
                if not self.chosen and self.first is not None:
                    data.setdefault(self.select, []).append(self.first)
                self.select = None
            elif tag == "textarea" and self.textarea:
                data.setdefault(self.textarea, []).append(self.text)
                self.textarea = None

        def handle_data(self, text):
            if self.textarea:
                self.text += text

    parser = Parser(convert_charrefs=True)
    parser.feed(form)
    return data


class Coupons:
    """A plugin offering two actions: one with a marshmallow schema (a decimal and a choice), one
    with a JSON-Schema-like dict."""

    @hookimpl
    def crm_actions(self):
        from marshmallow import Schema, fields, validate

        class Params(Schema):
            value = fields.Decimal(required=True, as_string=True)
            kind = fields.String(load_default="cash", validate=validate.OneOf(["cash", "percent"]))

        def run(params, event, customer):
            return {}

        schema = {
            "type": "object",
            "properties": {"points": {"type": "integer"}, "note": {"type": "string"}},
            "required": ["points"],
            "additionalProperties": False,
        }
        return [
            {"name": "coupons.issue", "label": "Issue a coupon", "schema": Params, "run": run},
            {"name": "coupons.points", "label": "Give points", "schema": schema, "run": run},
        ]


def test_plugin_actions_get_inputs_from_their_schemas(register_plugin, make_user):
    app = register_plugin(Coupons(), "coupons")
    with app.app_context():
        make_user("coupon_boss", roles=("admin",))
        client = app.test_client()
        web_login(client, "coupon_boss")
        html = client.get("/automations/new").get_data(as_text=True)
        assert 'data-switch-value="coupons.issue"' in html and "Issue a coupon" in html
        assert 'name="a-__i__-p-value"' in html and 'inputmode="decimal"' in html
        assert 'name="a-__i__-p-kind"' in html and 'value="percent"' in html
        assert 'name="a-__i__-p-points"' in html and 'name="a-__i__-p-note"' in html
        base = {"name": "Coupons", "trigger_choice": "order.paid"}
        r = post_form(
            client,
            "/automations/new",
            {**base, "a-0-type": "coupons.issue", "a-0-p-value": "ten", "a-1-type": "coupons.points"},
        )
        html = r.get_data(as_text=True)
        assert r.status_code == 422
        assert 'data-field="a-0-p-value"' in html and 'data-field="a-1-p-points"' in html
        r = post_form(
            client,
            "/automations/new",
            {
                **base,
                "a-0-type": "coupons.issue",
                "a-0-p-value": "20.00",
                "a-0-p-kind": "percent",
                "a-1-type": "coupons.points",
                "a-1-p-points": "50",
            },
        )
        assert r.status_code == 302, r.get_data(as_text=True)
        rid = _id_of(r.headers["Location"])
        api = client.get(f"/records/automations/{rid}").get_data(as_text=True)
        assert "Issue a coupon" in api and "Give points" in api
        from crm_core.automations.models import AutomationRule

        assert AutomationRule.get_by_id(rid).actions == [
            {"type": "coupons.issue", "params": {"value": "20.00", "kind": "percent"}},
            {"type": "coupons.points", "params": {"points": 50}},
        ]


def test_segment_page_shows_chinese_filter_values_as_written(client, setup):
    """The JSON a record page shows (a segment's filters) keeps Chinese as written, not as
    ``\\uXXXX`` escapes, and stays HTML-safe."""
    filters = {"tag": "贵宾", "q": "<b>北方</b>"}
    r = setup["api"].post("/api/v1/segments", json={"name": "贵宾", "filters": filters}, headers=setup["h"])
    assert r.status_code == 201, r.get_json()
    html = client.get(f"/records/segments/{r.get_json()['id']}").get_data(as_text=True)
    assert "贵宾" in html and "\\u8d35" not in html
    assert "<b>北方</b>" not in html, "escaped like tojson"


def test_rule_author_without_customers_gets_event_fields_only(app, setup, make_user):
    grants = [{"resource": "automations", "action": a, "scope": "own"} for a in ("read", "create", "update")]
    r = setup["api"].post("/api/v1/roles", json={"name": "rules_only", "grants": grants}, headers=setup["h"])
    assert r.status_code == 201, r.get_json()
    make_user("rules_only_user", roles=("rules_only",))
    author = login_as(app, "rules_only_user")
    html = author.get("/automations/new").get_data(as_text=True)
    assert 'value="event.type"' in html and "customer.lifecycle_stage" not in html
    assert 'value="customer.created"' not in html, "no record events of resources it cannot read"
    r = post_form(
        author,
        "/automations/new",
        {"name": "Mine", "trigger_choice": "order.paid", "a-0-type": "add_tag", "a-0-p-tag": "paid"},
    )
    assert r.status_code == 302, r.get_data(as_text=True)


def test_segment_page_describes_its_filters_and_size_per_viewer(app, client, setup):
    filters = {"lifecycle_stage": "vip", "credit_score__gte": "500"}
    r = setup["api"].post(
        "/api/v1/segments", json={"name": "Rich VIPs", "filters": filters}, headers=setup["h"]
    )
    sid = r.get_json()["id"]
    html = client.get(f"/records/segments/{sid}").get_data(as_text=True)
    summary = html[html.index('id="segment-summary"') :]
    assert "Lifecycle stage is VIP" in summary and "Credit score at least 500" in summary
    assert 'data-count="2"' in summary  # South VIP (900) and North VIP 2 (900)
    rep = login_as(app, "rep")
    html = rep.get(f"/records/segments/{sid}").get_data(as_text=True)
    summary = html[html.index('id="segment-summary"') :]
    assert "Lifecycle stage is VIP" in summary and "Credit score" not in summary
    assert "1 condition on a field you cannot filter on is kept unchanged." in summary
    assert 'id="segment-size"' not in summary, "a filter on a hidden field is not counted for the rep"


def test_automation_history_conditions_from_rows(client, setup):
    """ "Three paid orders in 30 days" is built from a row (event, days, operator, number)."""
    base = {
        "name": "Loyal buyers",
        "trigger_choice": "order.paid",
        "a-0-type": "add_tag",
        "a-0-p-tag": "loyal",
    }
    bad = {"c-0-field": "count", "c-0-event": "", "c-0-days": "0", "c-0-op": "gte", "c-0-value": "three"}
    r = post_form(client, "/automations/new", {**base, **bad})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    for key in ("c-0-event", "c-0-days", "c-0-value"):
        assert f'data-field="{key}"' in html, key
    good = {
        "c-0-field": "count",
        "c-0-event": "order.paid",
        "c-0-days": "30",
        "c-0-op": "gte",
        "c-0-value": "3",
    }
    r = post_form(client, "/automations/new", {**base, **good})
    assert r.status_code == 302, r.get_data(as_text=True)
    rule = _rule(setup, _id_of(r.headers["Location"]))
    assert rule["conditions"] == {
        "count": {"event": "order.paid", "within_days": 30},
        "op": "gte",
        "value": 3,
    }
    detail = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "number of Order paid events in the last 30 days at least 3" in detail


def test_segment_times_are_typed_in_the_users_time_zone(client, setup):
    from crm_core.auth.models import User

    User.update(timezone="Asia/Shanghai").where(User.username == "boss").execute()
    rows = {"f-0-field": "created_at", "f-0-op": "gte", "f-0-value": "2026-01-01T08:00"}
    r = post_form(client, "/segments/new", {"name": "This year", **rows})
    assert r.status_code == 302, r.get_data(as_text=True)
    sid = _id_of(r.headers["Location"])
    assert _segment(setup, sid)["filters"] == {"created_at__gte": "2026-01-01T00:00:00+00:00"}
    html = client.get(f"/segments/{sid}/edit").get_data(as_text=True)
    assert 'value="2026-01-01T08:00"' in html, "shown again in the user's zone"


def test_rule_page_shows_actions_as_written_not_escaped(client, setup):
    """What was seen: a rule's page showed its actions as ``\\u81ea\\u52a8...`` escapes."""
    body = {
        "name": "自动欢迎",
        "trigger": "customer.created",
        "actions": [{"type": "create_task", "params": {"subject": "自动欢迎电话", "assignee": "rule_owner"}}],
    }
    r = setup["api"].post("/api/v1/automations", json=body, headers=setup["h"])
    assert r.status_code == 201, r.get_json()
    html = client.get(f"/records/automations/{r.get_json()['id']}").get_data(as_text=True)
    assert "\\u81ea" not in html and "自动欢迎电话" in html
    assert "Create a task on the customer" in html, "the action by its label, not its code"
