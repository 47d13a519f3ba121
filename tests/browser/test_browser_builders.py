"""Building a segment and an automation rule in real headless Chromium, in Chinese and English,
without typing an id or a line of JSON (issue 15: both needed hand-written JSON, and the rule's
page showed its actions as ``\\uXXXX`` escapes). Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import time

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "Builder-Passw0rd!"

TEXT = {
    "zh-CN": {"count": "位客户符合", "action": "为客户创建任务", "trigger": "客户 · 已更新"},
    "en": {"count": "match", "action": "Create a task on the customer", "trigger": "Customers · updated"},
}


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll ``expression`` from the test (the CSP refuses ``page.wait_for_function``'s eval)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def _api(live_server, method, path, body=None):
    r = live_server["api"].open(path, method=method, json=body, headers=live_server["headers"])
    assert r.status_code < 300, (path, r.get_json())
    return r


@pytest.fixture
def builder_user(live_server):
    """A fresh admin per test (no saved language: the browser's decides) and two customers."""
    made = {}

    def make(tag: str):
        stamp = f"{tag}{time.monotonic_ns() % 10**9}"
        _api(
            live_server,
            "POST",
            "/api/v1/users",
            {"username": f"b_{stamp}", "password": PASSWORD, "roles": ["admin"]},
        )
        for name, stage in ((f"贵宾 {stamp}", "vip"), (f"线索 {stamp}", "lead")):
            _api(live_server, "POST", "/api/v1/customers", {"name": name, "lifecycle_stage": stage})
        made["user"], made["vip"] = f"b_{stamp}", f"贵宾 {stamp}"
        return made

    return make


def _vip_total(live_server) -> int:
    r = _api(live_server, "GET", "/api/v1/customers?lifecycle_stage=vip&page_size=1")
    return json.loads(r.headers["X-Pagination"])["total"]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_build_a_segment_and_an_automation(browser, live_server, shot, login, builder_user, locale):
    base = live_server["url"]
    made = builder_user(locale[:2])
    username = made["user"]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    context.set_default_timeout(15000)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        login(page, base, username, PASSWORD)
        text = TEXT[locale]

        # --- a segment: lifecycle stage is VIP, with the live count --------------------------------
        page.goto(base + "/records/segments/new")
        assert page.url.endswith("/segments/new"), "the generic form leads to the builder"
        page.fill("input[name=name]", "贵宾客户" if locale == "zh-CN" else "VIP customers")
        page.select_option("select[name=f-0-field]", "lifecycle_stage")
        page.wait_for_selector("select[name=f-0-op]")
        page.select_option("select[name=f-0-op]", "eq")
        page.select_option("select[name=f-0-value]", "vip")
        expected = _vip_total(live_server)
        wait_until(page, f"document.querySelector('#segment-count').dataset.count === '{expected}'")
        assert text["count"] in page.locator("#segment-count").inner_text()
        # a second row: "is any of" lets a field match several values
        page.click("#f-add")
        page.select_option("select[name=f-1-field]", "lifecycle_stage")
        page.select_option("select[name=f-1-op]", "in")
        page.select_option("select[name=f-1-value]", ["vip", "lead"])
        wait_until(page, "document.querySelector('#segment-count').dataset.count !== ''")
        shot(page, f"builders-segment-{locale}")
        page.click("[data-row][data-index='1'] [data-remove-row]")
        wait_until(page, f"document.querySelector('#segment-count').dataset.count === '{expected}'")
        page.click("#segment-save")
        page.wait_for_url(base + "/records/segments/*")
        sid = int(page.url.rsplit("/", 1)[1])
        stored = _api(live_server, "GET", f"/api/v1/segments/{sid}").get_json()
        assert stored["filters"] == {"lifecycle_stage": "vip"}
        assert page.locator("#segment-size").get_attribute("data-count") == str(expected)
        shot(page, f"builders-segment-detail-{locale}")
        # edit: the stored filter comes back as a row
        page.goto(base + f"/records/segments/{sid}/edit")
        assert page.locator("select[name=f-0-field]").input_value() == "lifecycle_stage"
        assert page.locator("select[name=f-0-value]").input_value() == "vip"
        shot(page, f"builders-segment-edit-{locale}")

        # --- an automation: when a customer is updated and is VIP, create a task --------------------
        page.goto(base + "/records/automations/new")
        assert page.url.endswith("/automations/new")
        page.fill("input[name=name]", "贵宾欢迎" if locale == "zh-CN" else "Welcome VIPs")
        page.select_option("select[name=trigger_choice]", "customer.updated")
        page.click("#c-add")
        page.select_option("select[name=c-0-field]", "customer.lifecycle_stage")
        page.select_option("select[name=c-0-op]", "eq")
        page.select_option("select[name=c-0-value]", "vip")
        page.click("#c-add")
        page.select_option("select[name=c-1-field]", "count")
        page.select_option("select[name=c-1-event]", "order.paid")
        page.fill("input[name=c-1-days]", "30")
        page.select_option("select[name=c-1-op]", "gte")
        page.fill("input[name=c-1-value]", "0")
        page.select_option("select[name=a-0-type]", "create_task")
        page.fill("input[name=a-0-p-subject]", "自动欢迎电话")
        page.fill("input[name=a-0-p-due_in_hours]", "48")
        page.select_option("select[name=a-0-p-assignee]", "rule_owner")
        page.click("#a-add")
        page.select_option("select[name=a-1-type]", "add_tag")
        page.fill("input[name=a-1-p-tag]", "贵宾")
        shot(page, f"builders-automation-{locale}")
        page.click("#automation-save")
        page.wait_for_url(base + "/records/automations/*")
        rid = int(page.url.rsplit("/", 1)[1])
        rule = _api(live_server, "GET", f"/api/v1/automations/{rid}").get_json()
        assert rule["trigger"] == "customer.updated"
        assert rule["conditions"] == {
            "and": [
                {"field": "customer.lifecycle_stage", "op": "eq", "value": "vip"},
                {"count": {"event": "order.paid", "within_days": 30}, "op": "gte", "value": 0},
            ]
        }
        assert rule["actions"] == [
            {
                "type": "create_task",
                "params": {"subject": "自动欢迎电话", "due_in_hours": 48, "assignee": "rule_owner"},
            },
            {"type": "add_tag", "params": {"tag": "贵宾"}},
        ]
        summary = page.locator("#rule-summary").inner_text()
        assert text["action"] in summary and "自动欢迎电话" in summary and "\\u" not in page.content()
        assert text["trigger"] in summary
        # the dry run, from the rule's page, on a customer chosen by name (no id typed)
        page.fill("#dry-run [data-picker-input]", made["vip"])
        page.click(f"#dry-run [role=option]:has-text('{made['vip']}')")
        assert page.locator("#dry-run input[name=customer_id]").input_value().isdigit()
        page.fill("#dry-run textarea[name=event_data]", "{}")
        page.click("#dry-run button[type=submit]")
        page.wait_for_selector("#dry-run-result")
        assert page.locator("[data-would-act]").get_attribute("data-would-act") == "true"
        shot(page, f"builders-automation-detail-{locale}")
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()


def test_a_scoped_rep_builds_a_segment_over_their_own_customers(browser, live_server, shot, login):
    """A rep whose role reads the customers of their department only, with ``phone`` hidden: the
    builder never offers the phone, and the live count is of the rep's customers."""
    base = live_server["url"]
    stamp = f"{time.monotonic_ns() % 10**9}"
    dept = _api(live_server, "POST", "/api/v1/departments", {"name": f"西区 {stamp}"}).get_json()["id"]
    grants = [{"resource": "customers", "action": "read", "scope": "department"}] + [
        {"resource": "segments", "action": a, "scope": "own"} for a in ("read", "create", "update")
    ]
    rules = [{"resource": "customers", "field": "phone", "rule": "hidden"}]
    role = f"rep_{stamp}"
    _api(live_server, "POST", "/api/v1/roles", {"name": role, "grants": grants, "field_rules": rules})
    user = f"rep_{stamp}"
    _api(
        live_server,
        "POST",
        "/api/v1/users",
        {"username": user, "password": PASSWORD, "roles": [role], "department_id": dept},
    )
    for name, department in ((f"西区贵宾 {stamp}", dept), (f"别处贵宾 {stamp}", None)):
        _api(
            live_server,
            "POST",
            "/api/v1/customers",
            {"name": name, "lifecycle_stage": "vip", "department_id": department},
        )
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        login(page, base, user, PASSWORD)
        page.goto(base + "/records/segments/new")
        options = page.locator("select[name=f-0-field] option").evaluate_all("els => els.map(e => e.value)")
        assert "lifecycle_stage" in options and "phone" not in options
        page.fill("input[name=name]", "我的贵宾")
        page.select_option("select[name=f-0-field]", "lifecycle_stage")
        page.select_option("select[name=f-0-value]", "vip")
        wait_until(page, "document.querySelector('#segment-count').dataset.count === '1'")
        assert "1 位客户符合条件" in page.locator("#segment-count").inner_text()
        shot(page, "builders-segment-scoped-rep-zh-CN")
        page.click("#segment-save")
        page.wait_for_url(base + "/records/segments/*")
        assert page.locator("#segment-size").get_attribute("data-count") == "1"
    finally:
        context.close()
