"""The loyalty screens in real headless Chromium (Playwright with the distribution's browser, like
``tests/browser``): members list, member page with a redemption, enrolment with the customer
picker, the tier editor, in English and Chinese, as admin and as a scoped sales rep. Screenshots
go to ``test-artifacts/screenshots/`` (``CRM_TEST_SCREENSHOT_DIR`` overrides it)."""

from __future__ import annotations

import pytest

from crm_core.browser_testing import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
PASSWORD = "Browser-Passw0rd!"
L = "/api/v1/loyalty"


def _seed(app) -> dict:
    """An admin, a sales rep who reads only their own customers' loyalty, tiers, a rule, and
    members with points: Li Na (admin's, gold), 王芳 (the rep's), and 周杰 (not a member yet)."""
    from crm_core.testing import user_with_token

    with app.app_context():
        _admin, h = user_with_token("admin", ["admin"], PASSWORD, name="Admin")
    api = app.test_client()

    def call(path, body, status=201):
        r = api.post(path, json=body, headers=h)
        assert r.status_code == status, (path, r.get_json())
        return r.get_json()

    for code, name, rank, threshold in (
        ("silver", "Silver", 10, "0"),
        ("gold", "Gold", 20, "1000"),
        ("platinum", "Platinum", 30, "5000"),
    ):
        call(
            f"{L}/tiers",
            {
                "code": code,
                "name": name,
                "rank": rank,
                "window": "rolling",
                "window_days": 365,
                "threshold": threshold,
                "benefits": {"discount_rate": "0.05"} if code == "gold" else {},
            },
        )
    call(f"{L}/rules", {"name": "1 point per yuan", "kind": "purchase", "rate": "1"})
    call(
        "/api/v1/roles",
        {
            "name": "loyalty_rep",
            "grants": [
                {"resource": "customers", "action": "read", "scope": "own"},
                {"resource": "loyalty.members", "action": "read", "scope": "own"},
                {"resource": "loyalty.points", "action": "read", "scope": "own"},
            ],
        },
    )
    rep = call(
        "/api/v1/users", {"username": "rep", "password": PASSWORD, "roles": ["loyalty_rep"], "name": "Rep"}
    )
    li = call("/api/v1/customers", {"name": "Li Na"})["id"]
    wang = call("/api/v1/customers", {"name": "王芳", "owner_id": rep["id"]})["id"]
    zhou = call("/api/v1/customers", {"name": "周杰"})["id"]
    call(f"{L}/members", {"customer_id": li, "channel": "store"})
    call(f"{L}/members", {"customer_id": wang, "owner_id": rep["id"], "channel": "live"})
    for customer, amount in ((li, "1200"), (wang, "300")):
        call(
            f"{L}/activities",
            {"customer_id": customer, "kind": "purchase", "reference": f"o-{customer}", "amount": amount},
        )
    return {"li": li, "wang": wang, "zhou": zhou, "headers": h, "api": api}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """crm-core with the loyalty plugin served on a free port from a temp SQLite database."""
    from crm_core.browser_testing import live_server

    with live_server(tmp_path_factory.mktemp("loyalty-browser"), seed=_seed) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    from crm_core.browser_testing import chromium_browser

    return chromium_browser(CHROMIUM)  # one per process: see chromium_browser


@pytest.fixture
def open_as(browser, server):
    """``open_as(username, locale)``: a logged-in page in a fresh context of that language."""
    from crm_core.browser_testing import signed_in_page

    contexts = []

    def run(username, locale="en-US"):
        page = signed_in_page(browser, server["url"], username, PASSWORD, locale)
        contexts.append(page.context)
        return page

    yield run
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"loyalty-{name}.png"), full_page=True)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_members_list_from_the_menu(open_as, server, locale):
    page = open_as("admin", locale)
    menu = page.locator("a[href='/loyalty/']")
    assert menu.inner_text() == ("会员积分" if locale == "zh-CN" else "Loyalty")
    menu.click()
    page.wait_for_url(server["url"] + "/loyalty/members")
    row = page.locator(f"tr[data-member='{server['li']}']")
    assert row.locator("[data-tier]").inner_text() == "Gold"
    assert row.locator("[data-balance]").inner_text() == "1200"
    assert page.locator("h1").inner_text() == ("积分会员" if locale == "zh-CN" else "Loyalty members")
    page.fill("#member-search", "王")  # search as you type (htmx)
    page.locator(f"tr[data-member='{server['li']}']").wait_for(state="detached")
    assert page.locator(f"tr[data-member='{server['wang']}']").is_visible()
    shot(page, f"members-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_member_page_redeem_with_an_error_then_success(open_as, server, locale):
    page = open_as("admin", locale)
    page.goto(f"{server['url']}/loyalty/members/{server['li']}")
    balance = int(page.locator("[data-points=balance]").inner_text())
    page.fill("#redeem-form input[name=points]", str(balance + 1000))
    page.click("#redeem-form button[type=submit]")
    error = page.locator("#redeem-form small.crm-field-error[data-field=points]")
    expected = (
        f"可兑换的积分只有 {balance} 分。"
        if locale == "zh-CN"
        else f"Only {balance} points are available to redeem."
    )
    assert error.inner_text() == expected
    assert page.locator("#redeem-form input[name=points]").get_attribute("aria-invalid") == "true"
    shot(page, f"member-redeem-error-{locale}")
    page.fill("#redeem-form input[name=points]", "100")
    page.fill("#redeem-form input[name=reason]", "礼品卡" if locale == "zh-CN" else "gift card")
    page.click("#redeem-form button[type=submit]")
    page.locator(".crm-flash-success").wait_for()
    assert page.locator("[data-points=balance]").inner_text() == str(balance - 100)
    assert page.locator("tr[data-kind=redeem]").first.is_visible()
    shot(page, f"member-redeemed-{locale}")


def test_enrol_with_the_customer_picker(open_as, server):
    page = open_as("admin", "zh-CN")
    page.goto(server["url"] + "/loyalty/members")
    page.click("#enrol-member")
    page.locator("#customer-search").press_sequentially("周", delay=50)
    choice = page.locator(f"input[data-customer='{server['zhou']}']")
    choice.wait_for()
    shot(page, "enrol-picker-zh-CN")
    choice.check()
    page.fill("input[name=channel]", "门店")
    page.click("#enrol-form button[type=submit]")
    page.wait_for_url(f"{server['url']}/loyalty/members/{server['zhou']}")
    assert page.locator("h1").inner_text() == "周杰"
    assert page.locator("[data-member-tier]").inner_text() == "Silver"


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_tier_editor(open_as, server, locale):
    page = open_as("admin", locale)
    page.goto(server["url"] + "/loyalty/tiers")
    code = "diamond" if locale == "en-US" else "zuanshi"
    page.click("#new-tier")
    page.fill("input[name=name]", "Diamond" if locale == "en-US" else "钻石")
    page.fill("input[name=code]", code)
    page.fill("input[name=rank]", "20")  # taken by Gold: refused on the field
    page.fill("input[name=window_days]", "365")
    page.fill("input[name=threshold]", "20000")
    page.fill("input[name=discount_percent]", "12")
    page.check("input[name=free_shipping]")
    page.click("#tier-form button[type=submit]")
    error = page.locator("small.crm-field-error[data-field=rank]")
    assert error.inner_text() == (
        "已被另一个等级使用。" if locale == "zh-CN" else "Already used by another tier."
    )
    shot(page, f"tier-form-error-{locale}")
    page.fill("input[name=rank]", "40" if locale == "en-US" else "50")
    page.click("#tier-form button[type=submit]")
    page.wait_for_url(server["url"] + "/loyalty/tiers")
    row = page.locator(f"tr[data-tier='{code}']")
    assert "12%" in row.inner_text()
    shot(page, f"tiers-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_scoped_rep_sees_only_their_members_and_no_redeem_form(open_as, server, locale):
    page = open_as("rep", locale)
    page.click("a[href='/loyalty/']")
    page.wait_for_url(server["url"] + "/loyalty/members")
    assert page.locator(f"tr[data-member='{server['wang']}']").is_visible()
    assert page.locator(f"tr[data-member='{server['li']}']").count() == 0
    assert page.locator("#enrol-member").count() == 0
    shot(page, f"members-rep-{locale}")
    page.click(f"tr[data-member='{server['wang']}'] a")
    page.locator("#ledger").wait_for()
    assert page.locator("#redeem-form").count() == 0 and page.locator("#adjust-form").count() == 0
    assert page.locator(".reverse-form").count() == 0
    assert page.locator(".loyalty-tabs a[href='/loyalty/tiers']").count() == 0
    shot(page, f"member-rep-{locale}")


def test_customer_panel_and_programme_pages_in_chinese(open_as, server):
    page = open_as("admin", "zh-CN")
    page.goto(f"{server['url']}/records/customers/{server['li']}")
    panel = page.locator("[data-plugin=loyalty]")
    assert panel.locator("header").inner_text() == "会员积分"
    assert "余额" in panel.inner_text() and "Balance" not in panel.inner_text()
    shot(page, "customer-panel-zh-CN")
    panel.locator("[data-loyalty=redeem]").click()
    page.wait_for_url(f"{server['url']}/loyalty/members/{server['li']}#redeem-form")
    assert page.locator("#redeem-form").is_visible()
    page.goto(server["url"] + "/loyalty/rules")
    assert "每元" in page.locator("#rule-table").inner_text()
    shot(page, "rules-zh-CN")
    page.goto(server["url"] + "/loyalty/program")
    assert page.locator("select[name=expiry_mode] option:checked").inner_text() == "获得后若干天过期"
    shot(page, "program-zh-CN")
