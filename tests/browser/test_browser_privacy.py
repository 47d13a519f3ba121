"""The privacy requests page in real headless Chromium, in a Chinese and an English browser: the
list with an overdue request marked, the menu entry, an access request processed from the page
and its readable export file opened (UTF-8, both languages' labels).

Screenshots go to ``test-artifacts/screenshots/`` (``privacy-requests-*.png``).
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXTS = {
    "zh-CN": {"title": "隐私请求", "overdue": "已超时", "kind": "查阅复制", "done": "已完成"},
    "en-US": {
        "title": "Privacy requests",
        "overdue": "overdue",
        "kind": "Access (copy)",
        "done": "Completed",
    },
}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_privacy_requests_page(browser, live_server, login, shot, locale):
    base, api, h = live_server["url"], live_server["api"], live_server["headers"]
    texts = TEXTS[locale]
    customer = api.post(
        "/api/v1/customers",
        json={"name": f"隐私 Privacy {locale}", "email": f"p-{locale}@example.com"},
        headers=h,
    ).get_json()
    late = api.post(
        "/api/v1/privacy-requests",
        json={"kind": "access", "customer_id": customer["id"], "requested_at": "2026-01-02T08:00:00Z"},
        headers=h,
    ).get_json()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        login(page, base, "admin")
        page.click(f"nav >> text={texts['title']}")
        page.wait_for_url(base + "/privacy/requests")
        row = page.locator(f'tr[data-request="{late["id"]}"]')
        assert texts["overdue"] in row.inner_text() and texts["kind"] in row.inner_text()
        shot(page, f"privacy-requests-{locale}")
        row.locator("form[action$='/process'] button").click()
        page.wait_for_url(base + "/privacy/requests")
        row = page.locator(f'tr[data-request="{late["id"]}"]')
        assert texts["done"] in row.inner_text()
        shot(page, f"privacy-requests-done-{locale}")
        export = page.request.get(f"{base}/privacy/requests/{late['id']}/export.html")
        assert export.ok and "charset=utf-8" in export.headers["content-type"]
        html = export.text()
        assert customer["name"] in html and "客户信息 / Customer" in html
        viewer = context.new_page()
        viewer.set_content(html)
        shot(viewer, f"privacy-export-{locale}")
    finally:
        context.close()
