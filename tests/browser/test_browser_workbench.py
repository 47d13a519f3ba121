"""The workbench in real headless Chromium: what a user does on day one.

Each test logs in through the form, works through the pages, and saves screenshots of the main
pages (folder printed at the end of the run).
"""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll ``expression`` from the test (DevTools evaluation): the workbench's Content-Security-Policy
    rightly refuses the string ``eval`` that ``page.wait_for_function`` runs inside the page."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def test_login_and_dashboard(page, live_server, shot, login):
    base = live_server["url"]
    page.goto(base + "/")
    assert page.url.startswith(base + "/login")
    shot(page, "01-login")
    login(page, base, "admin")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator("#counts [data-resource=customers]").inner_text() != ""
    wait_until(page, "!!(document.querySelector('#pipeline-chart') && Chart.getChart('pipeline-chart'))")
    shot(page, "02-dashboard")


def test_create_customer_with_a_validation_error_then_fix_it(page, live_server, shot, login):
    base = live_server["url"]
    login(page, base, "admin")
    page.click("a[href='/records/customers/']")
    shot(page, "03-customer-list")
    page.click("#new-record")
    page.fill("input[name=name]", "王小明")
    page.fill("input[name=email]", "not-an-email")
    page.click("#record-form button[type=submit]")
    error = page.locator("small.crm-field-error[data-field=email]")
    assert error.is_visible() and error.inner_text().strip()
    assert page.locator("input[name=email]").get_attribute("aria-invalid") == "true"
    assert page.locator("input[name=name]").input_value() == "王小明", "what was typed is kept"
    shot(page, "04-customer-form-error")
    page.fill("input[name=email]", "Xiao.Ming@Example.com")
    page.fill("input[name=phone]", "138 0013 8111")
    page.click("#record-form button[type=submit]")
    page.wait_for_selector("#timeline")
    assert page.locator("h1").inner_text() == "王小明"
    assert page.locator("[data-field=email]").inner_text() == "xiao.ming@example.com"
    assert page.locator("[data-field=phone]").inner_text() == "+8613800138111"
    shot(page, "05-customer-360")


def test_add_a_custom_field_and_see_it_in_the_form(page, live_server, shot, login):
    base = live_server["url"]
    login(page, base, "admin")
    page.goto(base + "/admin/fields?entity=customers")
    page.fill("#field-form input[name=name]", "wechat_id")
    page.select_option("#field-form select[name=type]", "string")
    page.fill("#field-form input[name=label_en]", "WeChat ID")
    page.fill("#field-form input[name=label_zh]", "微信号")
    page.click("#field-form button[type=submit]")
    page.wait_for_selector("#field-list tr[data-field=wechat_id]")
    shot(page, "06-custom-fields")
    page.goto(base + "/records/customers/new")
    field = page.locator("input[name='custom.wechat_id']")
    assert field.is_visible()
    assert "WeChat ID" in page.locator("label", has=field).inner_text()
    page.fill("input[name=name]", "Has WeChat")
    field.fill("wx_123")
    page.click("#record-form button[type=submit]")
    page.wait_for_selector("#timeline")
    assert "wx_123" in page.content()
    shot(page, "07-customer-with-custom-field")


def test_drag_a_deal_to_another_stage(page, live_server, shot, login):
    base = live_server["url"]
    login(page, base, "admin")
    page.goto(base + "/pipeline")
    lead, proposal, _won = live_server["stages"]
    card = page.locator(f"#deal-{live_server['deal']}")
    assert card.locator("xpath=ancestor::section").get_attribute("data-stage") == str(lead)
    shot(page, "08-pipeline-before")
    with page.expect_response(lambda r: "/stage" in r.url and r.request.method == "POST") as info:
        # grab the card by its edge (its middle holds the move form's select)
        card.drag_to(
            page.locator(f"section[data-stage='{proposal}']"),
            source_position={"x": 4, "y": 4},
            target_position={"x": 20, "y": 60},
        )
    assert info.value.status == 200
    page.wait_for_selector(f"section[data-stage='{proposal}'] #deal-{live_server['deal']}")
    shot(page, "09-pipeline-after-drag")
    page.reload()
    moved = page.locator(f"section[data-stage='{proposal}'] #deal-{live_server['deal']}")
    assert moved.count() == 1, "the move was saved"
    api = live_server["api"]
    deal = api.get(f"/api/v1/deals/{live_server['deal']}", headers=live_server["headers"]).get_json()
    assert deal["stage_id"] == proposal


def test_switch_language(page, live_server, shot, login):
    base = live_server["url"]
    login(page, base, "admin")
    page.click("details.dropdown summary")
    page.click("button[data-lang=zh_CN]")
    page.wait_for_selector("h1:has-text('仪表盘')")
    shot(page, "10-dashboard-zh")
    page.goto(base + "/tickets/queue")
    shot(page, "11-ticket-queue-zh")
    page.click("details.dropdown summary")
    page.click("button[data-lang=en]")
    page.wait_for_selector("h1:has-text('Ticket queue')")


def test_restricted_user_cannot_see_the_hidden_field(page, live_server, shot, login):
    base = live_server["url"]
    login(page, base, "viewer")
    page.goto(base + f"/records/customers/{live_server['customer']}")
    html = page.content()
    assert "Secret Phone Ltd" in html
    assert "13912345678" not in html
    assert page.locator("[data-field=phone]").count() == 0
    assert page.locator("a[href='/admin/']").count() == 0, "no administration menu"
    shot(page, "12-restricted-customer")
    page.goto(base + "/records/customers/")
    assert "13912345678" not in page.content()
    assert page.locator("#new-record").count() == 0, "cannot create"


def test_admin_pages_render(page, live_server, shot, login):
    base = live_server["url"]
    login(page, base, "admin")
    for path, name in [
        ("/admin/roles", "13-roles"),
        ("/admin/roles/2", "14-permission-matrix"),
        ("/admin/departments", "15-departments"),
        ("/admin/audit", "16-audit"),
    ]:
        page.goto(base + path)
        assert page.locator("h1").count() == 1
        shot(page, name)
    page.click("#verify")
    page.wait_for_selector("#verification")
    assert "Chain intact" in page.locator("#verification").inner_text()


def test_live_search_updates_the_list_in_place(page, live_server, shot, login):
    base = live_server["url"]
    login(page, base, "admin")
    page.goto(base + "/records/customers/")
    page.evaluate("window.__marker = 'same page'")
    page.fill("main input[type=search]", "Secret Phone")  # (the top bar has a search box too)
    wait_until(page, "document.querySelector('#record-count').textContent.trim().startsWith('1 ')")
    # htmx pushes the URL when the swap settles, a moment after the list changed
    wait_until(page, "location.search.includes('q=Secret')")
    assert page.evaluate("window.__marker") == "same page", "htmx swapped the list, no page load"
    assert "q=Secret" in page.url
    assert page.locator("#bulk-form tbody tr").count() == 1
    shot(page, "17-live-search")
