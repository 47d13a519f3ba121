"""Chinese beyond the chrome, in real headless Chromium (English and Chinese browsers): the account
page's time zone, times shown in it, amounts for the locale, the role permission grid, custom
field types and a translated error page and form error.

Screenshots go to ``test-artifacts/screenshots/`` (``i18n-*.png``).
"""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXTS = {
    "zh-CN": {
        "saved": "您的时区已保存。",
        "read": "查看",
        "customers": "客户",
        "type": "整数",
        "not_found": "页面不存在",
        "phone": "不是有效的电话号码。",
    },
    "en-US": {
        "saved": "Your time zone was saved.",
        "read": "read",
        "customers": "Customers",
        "type": "whole number",
        "not_found": "Not Found",
        "phone": "Not a valid phone number.",
    },
}


def context_page(browser, locale: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    context.set_default_timeout(15000)
    return context, context.new_page()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_time_zone_amounts_grid_and_errors_in_the_browsers_language(
    browser, live_server, login, shot, locale
):
    base, texts = live_server["url"], TEXTS[locale]
    api, h = live_server["api"], live_server["headers"]
    customer = api.post("/api/v1/customers", json={"name": "时区 Zone Ltd"}, headers=h).get_json()
    created = dt.datetime.fromisoformat(customer["created_at"].replace("Z", "+00:00"))
    created = created.replace(tzinfo=created.tzinfo or dt.UTC)
    shanghai = created.astimezone(dt.timezone(dt.timedelta(hours=8)))
    context, page = context_page(browser, locale)
    tag = locale.split("-")[0]
    try:
        login(page, base, "admin")
        # the admin is shared with other browser tests: choose the language like a person would
        page.click("details.dropdown summary")
        page.click(f"button[data-lang={'zh_CN' if tag == 'zh' else 'en'}]")
        page.goto(f"{base}/account/password")
        page.select_option("select[name=timezone]", "Asia/Shanghai")
        page.click("#timezone button[type=submit]")
        assert texts["saved"] in page.inner_text("main")
        shot(page, f"i18n-account-{tag}")

        page.goto(f"{base}/records/customers/{customer['id']}")
        shown = page.inner_text("main")
        clock = f"{shanghai:%H:%M}" if tag == "zh" else f"{shanghai.hour % 12 or 12}:{shanghai:%M}"
        assert clock in shown and f"{shanghai:%H:%M:%S}." not in shown
        page.goto(f"{base}/pipeline")
        assert ("¥5,000.00" if tag == "zh" else "CN¥5,000.00") in page.inner_text("main")

        page.goto(f"{base}/admin/roles")
        page.click("text=viewer")
        grid = page.locator("table.crm-matrix")
        assert texts["read"] in grid.locator("thead").inner_text()
        assert texts["customers"] in grid.locator("tbody").inner_text()
        shot(page, f"i18n-role-grid-{tag}")

        page.goto(f"{base}/admin/fields?entity=customers")
        assert texts["type"] in page.locator("select[name=type]").inner_text()

        page.goto(f"{base}/records/customers/new")
        page.fill("input[name=name]", "坏电话")
        page.fill("input[name=phone]", "12")
        page.click("main form button[type=submit]")
        assert texts["phone"] in page.inner_text("main")
        shot(page, f"i18n-form-error-{tag}")

        page.goto(f"{base}/no-such-page")
        assert texts["not_found"] in page.inner_text("main")
        shot(page, f"i18n-404-{tag}")
    finally:
        # the server is shared by the session's browser tests: give the admin the instance zone back
        page.goto(f"{base}/account/password")
        page.select_option("select[name=timezone]", "")
        page.click("#timezone button[type=submit]")
        page.click("details.dropdown summary")
        page.click("button[data-lang=en]")
        context.close()
