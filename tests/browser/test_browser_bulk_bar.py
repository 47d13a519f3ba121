"""The customer list's bulk bar in real Chromium, in English and zh-CN: tick records, tag them, then
give them to another owner chosen with the "Assign to" picker; the flashes say what happened and
the API shows the new tag and owner. Screenshots (``bulk-bar-*.png``) of the bar with records
ticked and of the page after assigning go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import uuid

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOCALES = {"en": "en-US", "zh": "zh-CN"}
FLASHES = {
    "en": ("Tagged 2 record(s).", "Assigned 2 record(s) to {name}."),
    "zh": ("已为 2 条记录加标签。", "已将 2 条记录分配给 {name}。"),
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_tag_and_assign_ticked_customers_from_the_bulk_bar(browser, live_server, login, shot, language):
    base, api, h = live_server["url"], live_server["api"], live_server["headers"]
    mark = uuid.uuid4().hex[:6]
    names = [f"批量客户 {mark} {i}" if language == "zh" else f"Bulk buyer {mark} {i}" for i in (1, 2)]
    ids = []
    for name in names:
        r = api.post("/api/v1/customers", json={"name": name}, headers=h)
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    owner_name = f"Assignee {mark}"
    r = api.post(
        "/api/v1/users",
        json={
            "username": f"assignee_{mark}",
            "name": owner_name,
            "password": "Browser-Passw0rd!",
            "roles": ["sales"],
        },
        headers=h,
    )
    assert r.status_code == 201, r.get_json()
    owner_id = r.get_json()["id"]

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=LOCALES[language])
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        login(page, base, "admin")
        page.goto(f"{base}/records/customers/?q={mark}")
        page.check("[data-select-all]")
        assert page.locator("input[name=ids]:checked").count() == 2
        page.fill("#bulk-bar input[name=tag]", f"t{mark}")
        shot(page, f"bulk-bar-ticked-{language}")
        page.click("#bulk-tag")
        page.wait_for_selector(".crm-flash-success")
        assert page.locator(".crm-flash-success").inner_text().strip() == FLASHES[language][0]

        page.check("[data-select-all]")
        picker = page.locator("#bulk-bar [data-picker-input]")
        picker.click()
        picker.type("Assignee", delay=30)
        option = page.locator(f"#bulk-bar [role=option]:has-text('{owner_name}')")
        option.wait_for()
        shot(page, f"bulk-bar-assign-open-{language}")
        option.click()
        assert page.locator("#bulk-bar input[name=owner_id]").input_value() == str(owner_id)
        page.click("#bulk-assign")
        page.wait_for_selector(".crm-flash-success")
        assert page.locator(".crm-flash-success").inner_text().strip() == FLASHES[language][1].format(
            name=owner_name
        )
        shot(page, f"bulk-bar-assigned-{language}")
    finally:
        context.close()
    for record_id in ids:
        record = api.get(f"/api/v1/customers/{record_id}", headers=h).get_json()
        assert record["tags"] == [f"t{mark}"] and record["owner_id"] == owner_id
