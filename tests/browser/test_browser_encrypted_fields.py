"""An encrypted field in real headless Chromium, in a Chinese and an English browser: defined in
the field editor (Encrypted, found by exact value), marked with a lock in the fields table, a
customer found in the list by the exact ID number and shown whole on their page.

Screenshots go to ``test-artifacts/screenshots/`` (``encrypted-field-*.png``).
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXTS = {
    "zh-CN": {"encrypted": "加密存储", "exact": "可按精确值查找（加密字段）", "add": "添加字段"},
    "en-US": {
        "encrypted": "Encrypted",
        "exact": "Find by exact value (encrypted fields)",
        "add": "Add field",
    },
}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_define_and_find_an_encrypted_field(browser, live_server, login, shot, locale):
    base, api, h = live_server["url"], live_server["api"], live_server["headers"]
    texts, name = TEXTS[locale], f"id_no_{locale[:2].lower()}"
    number = "110105199003071234" if locale == "zh-CN" else "310104198812120021"
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale=locale)
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        login(page, base, "admin")
        page.goto(base + "/admin/fields?entity=customers")
        form = page.locator("#field-form")
        form.locator("input[name=name]").fill(name)
        form.locator("input[name=label_en]").fill("ID number")
        form.locator("input[name=label_zh]").fill("身份证号")
        form.get_by_label(texts["encrypted"], exact=True).check()
        form.get_by_label(texts["exact"]).check()
        shot(page, f"encrypted-field-editor-{locale}")
        form.locator("button[type=submit]", has_text=texts["add"]).click()
        row = page.locator(f'tr[data-field="{name}"]')
        assert "🔒" in row.inner_text()
        got = api.get(f"/api/v1/fields/customers/{name}", headers=h).get_json()
        assert (got["encrypted"], got["blind_index"]) == (True, True)

        person = api.post(
            "/api/v1/customers", json={"name": f"加密 Sealed {locale}", "custom": {name: number}}, headers=h
        ).get_json()
        page.goto(f"{base}/records/customers/?{name}={number}")
        table = page.locator("#records")
        assert person["name"] in table.inner_text()
        shot(page, f"encrypted-field-found-{locale}")
        page.goto(f"{base}/records/customers/{person['id']}")
        assert number in page.inner_text("main")
    finally:
        context.close()
