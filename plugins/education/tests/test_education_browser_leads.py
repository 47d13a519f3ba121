"""The leads' screens in headless Chromium on the demo school (``crm_demo_data``): trial bookings
from the menu (a request booked through the form, an attended trial's feedback shown), the
follow-up queue with its overdue rows and the shared pool, and the metrics charts, in English and
Chinese. Screenshots go to ``CRM_TEST_SCREENSHOT_DIR`` (default ``test-artifacts/screenshots/``)."""

from __future__ import annotations

import random

import pytest

from crm_core.browser_testing import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "Browser-Passw0rd!"


def _seed(app) -> dict:
    """An admin who is also a consultant, another consultant, 40 customers and the demo school."""
    from crm_core.plugin_api import DemoContext, actor_for_user  # lazy: the app must exist first
    from crm_core.testing import user_with_token

    with app.app_context():
        admin, h = user_with_token("admin", ["admin"], PASSWORD, name="Admin")
        rep, _ = user_with_token("rep", ["admin"], PASSWORD, name="张顾问")
    api = app.test_client()
    ids = []
    for n in range(40):
        owner = admin.id if n % 2 else rep.id
        r = api.post("/api/v1/customers", json={"name": f"学员{n:02d}", "owner_id": owner}, headers=h)
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    with app.app_context():
        context = DemoContext(
            locale="zh_CN",
            admin=actor_for_user(admin),
            users={"manager": [admin.id, rep.id]},
            customers=ids,
            random=random.Random(5),
        )
        dict(app.extensions["crm"].plugins.per_plugin("crm_demo_data"))["education"](context=context)
    return {"leads": ids[16:36]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from crm_core.browser_testing import live_server

    with live_server(tmp_path_factory.mktemp("education-leads-browser"), seed=_seed) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    from crm_core.browser_testing import chromium_browser

    return chromium_browser()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"education-{name}.png"), full_page=True)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_trials_followups_and_metrics_screens(browser, server, locale):
    from crm_core.browser_testing import signed_in_page

    zh = locale == "zh-CN"
    page = signed_in_page(browser, server["url"], "admin", PASSWORD, locale)
    try:
        menu = page.locator("a[href='/education/trials']")
        assert menu.inner_text() == ("试听" if zh else "Trial lessons")
        menu.click()
        page.locator("#trials").wait_for()
        assert (
            page.locator("[data-feedback]").count() >= 2 and page.locator("#waitlist tbody tr").count() == 2
        )
        shot(page, f"trials-{locale}")
        page.locator("#book-trial-box summary").click()
        lead = server["leads"][-1 if zh else -2]
        page.select_option("#book-trial select[name=customer_id]", str(lead))
        page.check("#book-trial input[value=request]")
        page.select_option("#book-trial select[name=course_id]", index=1)
        page.fill("#book-trial input[name=preferred]", "周日下午" if zh else "Sunday afternoons")
        shot(page, f"trials-book-{locale}")
        page.click("#book-trial-submit")
        page.locator(".crm-flash-success").wait_for()
        page.click("[data-status-filter=requested]")
        assert page.locator("#trials tbody tr[data-status=requested]").count() >= 2

        page.click("a[href='/education/followups']")
        page.locator("#due").wait_for()
        assert page.locator("#due tr[data-overdue]").count() >= 1
        assert page.locator("#pool tbody tr[data-pool-lead]").count() >= 3
        shot(page, f"followups-{locale}")

        page.click("a[href='/education/metrics']")
        page.locator("#funnel-chart").wait_for()
        page.select_option("#metrics-by", "consultant")
        page.click("#show-metrics")
        page.locator("#funnel-chart rect[data-category='张顾问']").first.wait_for()
        assert page.locator("#revenue-chart rect[data-value]").count() >= 2
        shot(page, f"metrics-{locale}")
    finally:
        page.context.close()
