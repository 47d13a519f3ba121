"""Choosing references with the search-as-you-type pickers in real Chromium, in English and zh-CN.

A new deal gets its customer and owner from pickers (typing part of a name, choosing with the
keyboard or the mouse), never by typing an id; the saved deal shows both by name. Screenshots of
the open picker and of the saved deal go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOCALES = {"en": ("en-US", "New", "Choose"), "zh": ("zh-CN", "新建", "选择")}


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll ``expression`` from the test (the CSP refuses ``page.wait_for_function``'s eval)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


@pytest.fixture
def localized_page(browser, live_server, request):
    """A fresh context whose browser asks for the language under test."""
    locale = LOCALES[request.param][0]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    context.set_default_timeout(15000)
    page = context.new_page()
    yield request.param, page
    context.close()


@pytest.mark.parametrize("localized_page", ["en", "zh"], indirect=True)
def test_choose_a_customer_and_an_owner_with_the_pickers(localized_page, live_server, shot, login):
    language, page = localized_page
    base, api, h = live_server["url"], live_server["api"], live_server["headers"]
    name = {"en": "Jay Chou Trading", "zh": "周杰伦贸易"}[language]
    r = api.post("/api/v1/customers", json={"name": name}, headers=h)
    assert r.status_code == 201, r.get_json()
    customer_id = r.get_json()["id"]
    login(page, base, "admin")  # the page language follows the browser's (Accept-Language)
    page.goto(base + "/records/deals/new")
    assert LOCALES[language][1] in page.locator("h1").inner_text()
    title = {"en": "Picked by name", "zh": "按名称选择"}[language]
    page.fill("input[name=title]", title)

    # the customer: type part of the name, move with the keyboard, choose with Enter
    customer = page.locator("[data-picker]:has(input[name=customer_id]) [data-picker-input]")
    customer.click()
    customer.type(name[:3], delay=30)
    option = page.locator(f"[data-picker]:has(input[name=customer_id]) [role=option]:has-text('{name}')")
    option.wait_for()
    assert customer.get_attribute("aria-expanded") == "true"
    shot(page, f"picker-customer-open-{language}")
    wait_until(
        page,
        "(() => { const o = document.querySelector("
        "'[data-picker]:has(input[name=customer_id]) [role=option][aria-selected=true]');"
        f" return !!o && o.dataset.id === '{customer_id}'; }})()",
    )
    customer.press("Enter")
    assert page.locator("input[name=customer_id]").input_value() == str(customer_id)
    assert customer.input_value() == name
    assert customer.get_attribute("aria-expanded") == "false"

    # the owner: clear the preset one, type, choose with the mouse
    owner = page.locator("[data-picker]:has(input[name=owner_id]) [data-picker-input]")
    owner.fill("")
    owner.type("Adm", delay=30)
    choice = page.locator("[data-picker]:has(input[name=owner_id]) [role=option]:has-text('Admin')")
    choice.wait_for()
    shot(page, f"picker-owner-open-{language}")
    choice.click()
    owner_id = page.locator("input[name=owner_id]").input_value()
    assert owner_id.isdigit() and owner.input_value() == "Admin"

    # Escape restores the chosen name after a half-typed search
    customer.fill("zz")
    customer.press("Escape")
    assert customer.input_value() == name
    assert page.locator("input[name=customer_id]").input_value() == str(customer_id)

    page.click("#record-form button[type=submit]")
    page.wait_for_selector("[data-field=customer_id] a")
    assert page.locator("[data-field=customer_id]").inner_text().strip() == name
    assert page.locator("[data-field=owner_id]").inner_text().strip() == "Admin"
    shot(page, f"picker-deal-saved-{language}")
    deals = api.get("/api/v1/deals?q=" + title, headers=h).get_json()
    items = deals if isinstance(deals, list) else deals.get("items", deals.get("data", []))
    saved = [d for d in items if d["title"] == title]
    assert saved and saved[0]["customer_id"] == customer_id and str(saved[0]["owner_id"]) == owner_id
