"""The workbench basics in real headless Chromium, in English and Chinese: the company page with
its people and network graph, the global search in the top bar, and the menu on a 390 px phone.

Screenshots go to ``test-artifacts/screenshots/`` (``basics-*.png``).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def network(live_server):
    """A distributor network (HQ > two regions > a shop) with a customer to link, uniquely named."""
    api, h = live_server["api"], live_server["headers"]
    tag = uuid.uuid4().hex[:6]

    def post(path, body):
        r = api.post(f"/api/v1/{path}", json=body, headers=h)
        assert r.status_code == 201, (path, r.get_json())
        return r.get_json()["id"]

    hq = post("companies", {"name": f"华东总代 {tag}", "industry": "Retail"})
    north = post("companies", {"name": f"North region {tag}", "parent_id": hq})
    south = post("companies", {"name": f"南区经销 {tag}", "parent_id": hq})
    shop = post("companies", {"name": f"Shop {tag}", "parent_id": south})
    buyer = post("customers", {"name": f"周采购 {tag}"})
    boss = post("customers", {"name": f"Boss {tag}"})
    post("contacts", {"customer_id": boss, "company_id": hq, "role": "决策人"})
    post("deals", {"title": f"Spring order {tag}", "company_id": south, "amount": "8800"})
    post("tickets", {"title": f"Broken till {tag}", "customer_id": buyer})
    return {"tag": tag, "hq": hq, "north": north, "south": south, "shop": shop, "buyer": buyer}


def context_page(browser, locale: str, viewport=None):
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, locale=locale)
    context.set_default_timeout(15000)
    return context, context.new_page()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_company_page_links_a_customer_and_draws_the_network(
    browser, live_server, login, shot, network, locale
):
    base = live_server["url"]
    context, page = context_page(browser, locale)
    try:
        login(page, base, "admin")
        page.goto(f"{base}/records/companies/{network['south']}")
        graph = page.locator("svg#company-network")
        assert graph.is_visible()
        for key in ("hq", "north", "south", "shop"):
            assert graph.locator(f"[data-company='{network[key]}']").count() == 1
        current = graph.locator(f"a.crm-network-current[data-company='{network['south']}']")
        assert current.count() == 1
        assert f"Spring order {network['tag']}" in page.locator("#company-deals").inner_text()
        # find the buyer and link them with a role
        page.fill("#find-customer input[name=find]", f"周采购 {network['tag']}")
        page.click("#find-customer button[type=submit]")
        form = page.locator("#found-customers form.crm-link-form").first
        form.locator("input[name=role]").fill("采购")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#contacts [data-contact]")
        row = page.locator("#contacts [data-contact]").first
        assert f"周采购 {network['tag']}" in row.inner_text()
        assert row.locator("input[name=role]").input_value() == "采购"
        node = graph.locator(f"[data-company='{network['south']}'] .crm-network-count")
        assert "1" in node.text_content()
        if locale == "zh-CN":
            assert page.locator("#network header").inner_text().startswith("经销网络")
            assert "1 位联系人" in node.text_content()
        else:
            assert "1 contact" in node.text_content()
        shot(page, f"basics-company-network-{locale}")
        # clicking a node opens that company
        graph.locator(f"[data-company='{network['hq']}']").click()
        page.wait_for_url(f"{base}/records/companies/{network['hq']}")
        role = page.locator("#contacts form.crm-role-form input[name=role]").first
        assert role.input_value() == "决策人"
        # the role can be changed in place
        role.fill("老板")
        page.locator("#contacts form.crm-role-form button[type=submit]").first.click()
        assert page.locator("#contacts form.crm-role-form input[name=role]").first.input_value() == "老板"
        # the customer's page lists the company with the role, and links another one by name
        page.goto(f"{base}/records/customers/{network['buyer']}")
        panel = page.locator("#customer-companies")
        assert f"南区经销 {network['tag']}" in panel.inner_text() and "采购" in panel.inner_text()
        page.fill("#link-company input[name=company]", f"North region {network['tag']}")
        page.fill("#link-company input[name=role]", "财务")
        page.click("#link-company button[type=submit]")
        assert f"North region {network['tag']}" in page.locator("#customer-companies").inner_text()
        shot(page, f"basics-customer-companies-{locale}")
    finally:
        context.close()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_global_search_from_the_top_bar(browser, live_server, login, shot, network, locale):
    base = live_server["url"]
    context, page = context_page(browser, locale)
    try:
        login(page, base, "admin")
        box = page.locator("#global-search input[name=q]")
        box.fill(network["tag"])
        box.press("Enter")
        page.wait_for_url(f"{base}/search?q={network['tag']}")
        groups = page.locator(".crm-search-group")
        kinds = [groups.nth(i).get_attribute("data-resource") for i in range(groups.count())]
        assert kinds == ["customers", "companies", "deals", "tickets"]
        assert page.locator(".crm-search-group[data-resource=companies] [data-hit]").count() == 4
        heading = page.locator(".crm-search-group[data-resource=customers] header").inner_text()
        assert heading.startswith("客户" if locale == "zh-CN" else "Customers")
        shot(page, f"basics-search-{locale}")
        page.locator(".crm-search-group[data-resource=deals] a", has_text="Spring order").click()
        assert f"Spring order {network['tag']}" in page.locator("h1").inner_text()
    finally:
        context.close()


def test_search_as_a_scoped_user_shows_only_their_records(browser, live_server, login, network):
    """The seeded ``viewer`` reads customers and deals only: no companies or tickets group."""
    base = live_server["url"]
    context, page = context_page(browser, "en-US")
    try:
        login(page, base, "viewer")
        page.goto(f"{base}/search?q={network['tag']}")
        groups = page.locator(".crm-search-group")
        kinds = [groups.nth(i).get_attribute("data-resource") for i in range(groups.count())]
        assert kinds == ["customers", "deals"]
    finally:
        context.close()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_menu_at_phone_width(browser, live_server, login, shot, locale):
    base = live_server["url"]
    api, h = live_server["api"], live_server["headers"]
    due = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).replace(tzinfo=None).isoformat() + "Z"
    r = api.post(
        "/api/v1/activities",
        json={"kind": "task", "subject": f"Call back {locale}", "due_at": due},
        headers=h,
    )
    assert r.status_code == 201
    context, page = context_page(browser, locale, PHONE)
    try:
        login(page, base, "admin")
        overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert page.evaluate(overflow) <= 0, "no horizontal scroll at 390 px"
        menu = page.locator("#crm-menu")
        assert not menu.is_visible(), "the menu is folded away"
        assert page.locator("#global-search input").is_visible()
        assert page.locator("#reminder-badge").is_visible()
        shot(page, f"basics-phone-closed-{locale}")
        page.click("label.crm-menu-button")
        assert menu.is_visible()
        entries = menu.locator("a")
        assert entries.count() >= 5
        for i in range(entries.count()):
            box = entries.nth(i).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1
        assert page.evaluate(overflow) <= 0
        shot(page, f"basics-phone-open-{locale}")
        label = "客户" if locale == "zh-CN" else "Customers"
        menu.locator("a", has_text=label).first.click()
        page.wait_for_url(f"{base}/records/customers/")
        assert page.evaluate(overflow) <= 0, "a list page does not scroll sideways either"
        page.goto(base + "/reminders")
        assert f"Call back {locale}" in page.locator("#overdue").inner_text()
        assert page.evaluate(overflow) <= 0
        shot(page, f"basics-phone-reminders-{locale}")
        # the company page (a wide network graph scrolls inside its box) and the search results
        parent = api.post("/api/v1/companies", json={"name": f"Phone HQ {locale}"}, headers=h).get_json()[
            "id"
        ]
        for n in range(6):
            api.post(
                "/api/v1/companies",
                json={"name": f"Phone branch {n} {locale}", "parent_id": parent},
                headers=h,
            )
        page.goto(f"{base}/records/companies/{parent}")
        assert page.locator("svg#company-network").is_visible()
        assert page.evaluate(overflow) <= 0
        current = page.locator("svg#company-network .crm-network-current rect").bounding_box()
        assert current["x"] >= 0 and current["x"] + current["width"] <= PHONE["width"], "scrolled into view"
        shot(page, f"basics-phone-company-{locale}")
        page.fill("#global-search input[name=q]", "Phone branch")
        page.press("#global-search input[name=q]", "Enter")
        page.wait_for_selector(".crm-search-group")
        page.wait_for_load_state("load")
        shot(page, f"basics-phone-search-{locale}")
        assert page.evaluate(overflow) <= 0, "the search results do not scroll sideways"
    finally:
        context.close()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_departments_and_custom_fields_are_editable(browser, live_server, login, shot, locale):
    base = live_server["url"]
    api, h = live_server["api"], live_server["headers"]
    tag = uuid.uuid4().hex[:6]

    def post(path, body):
        r = api.post(f"/api/v1/{path}", json=body, headers=h)
        assert r.status_code == 201, (path, r.get_json())
        return r.get_json()["id"]

    top = post("departments", {"name": f"Region {tag}"})
    child = post("departments", {"name": f"Team {tag}", "parent_id": top})
    post("customers", {"name": f"Held {tag}", "department_id": child})
    field = f"grade_{tag}"
    post("fields/customers", {"name": field, "type": "choice", "choices": ["a", "b"]})
    post("customers", {"name": f"Graded {tag}", "custom": {field: "a"}})
    context, page = context_page(browser, locale)
    try:
        login(page, base, "admin")
        page.goto(base + "/admin/departments")
        node = page.locator(f"li[data-department='{top}']").first
        node.locator("summary").first.click()
        form = node.locator("form.crm-dept-edit").first
        # its own sub-department is not offered as a parent
        assert form.locator(f"select[name=parent_id] option[value='{child}']").count() == 0
        form.locator("input[name=name]").fill(f"大区 {tag}")
        form.locator("button[type=submit]").click()
        assert page.locator(f"li[data-department='{top}'] .crm-dept-name").first.inner_text() == f"大区 {tag}"
        team = page.locator(f"li[data-department='{child}']").first
        team.locator("summary").first.click()
        page.once("dialog", lambda d: d.accept())
        team.locator("form.crm-dept-delete button").click()
        flash = page.locator(".crm-flash-error").inner_text()
        assert ("仍有记录" in flash) if locale == "zh-CN" else ("still holds records" in flash)
        shot(page, f"basics-departments-{locale}")
        page.goto(f"{base}/admin/fields?entity=customers")
        page.click(f"a[data-edit-field='{field}']")
        page.fill("#field-edit-form input[name=choices]", "b")
        page.fill("#field-edit-form input[name=label_zh]", "等级")
        page.click("#field-edit-form button[type=submit]")
        blocking = page.locator("#blocking-records")
        assert blocking.is_visible(), "removing a choice a record holds is refused"
        assert page.locator("#field-edit-form input[name=label_zh]").input_value() == "等级"
        shot(page, f"basics-field-edit-refused-{locale}")
        page.fill("#field-edit-form input[name=choices]", "a, b, c")
        page.click("#field-edit-form button[type=submit]")
        row = page.locator(f"#field-list tr[data-field='{field}']")
        assert "等级" in row.inner_text() and "c" in row.inner_text()
        shot(page, f"basics-fields-{locale}")
    finally:
        context.close()
