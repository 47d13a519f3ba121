"""Issue 15's "done when", walked by a new user in headless Chromium, in zh-CN, through the
workbench only (clicks, names typed into pickers; never an id or a line of JSON):

1. the admin imports an Excel-made GBK file with Chinese headings (upload, preview, mapping, run,
   progress, report) and finds 周杰 in the customer list;
2. enrols 周杰 in loyalty with the customer picker, credits points with a reason, redeems some,
   and reads the balance and the ledger;
3. creates a campaign, a QR link on its page (the QR image loads), scans it, adds the spend and
   reads the funnel and the ROI pages with their charts;
4. builds a segment with the filter builder (live count) and an automation with the rule builder;
5. a sales rep of a department sees only their department's customers, in the list and in search.

Only the instance (users, a role, a department, the rep's customers) is set up through the API
before the browser starts. Every screen is checked for English catalogue strings with the
detector of ``tests/test_web_zh_crawl.py`` and saved as ``test-artifacts/screenshots/journey-*.png``.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("crm_loyalty")
pytest.importorskip("crm_channel_tracking")

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "Journey-Passw0rd!"
ADMIN = "zhang_admin"
REP = "li_rep"
#: customers of the rep's department (VIP) and one of another department's rep (a lead)
REP_CUSTOMERS = ("陈一鸣", "陈二虎")
OTHER_CUSTOMER = "陈三丰"


def _crawl_module():
    """``tests/test_web_zh_crawl.py`` (not a package: loaded from its path) for its detector of
    untranslated catalogue strings."""
    path = Path(__file__).resolve().parents[1] / "test_web_zh_crawl.py"
    spec = importlib.util.spec_from_file_location("_journey_zh_crawl", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll ``expression`` from the test (the CSP refuses ``page.wait_for_function``'s eval)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def _seed(app) -> dict:
    """Only Chinese data (English in the data would hide English in the screens): the admin, a
    department with a sales rep reading its customers, the rep's two customers and one of
    another department's rep."""
    from crm_core.auth import create_user, issue_token

    with app.app_context():
        admin = create_user(ADMIN, PASSWORD, roles=["admin"], name="张经理")
        raw, _ = issue_token(admin)
    api = app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}

    def post(path, body):
        r = api.post(path, json=body, headers=headers)
        assert r.status_code == 201, (path, r.get_json())
        return r.get_json()

    east = post("/api/v1/departments", {"name": "华东销售部"})["id"]
    south = post("/api/v1/departments", {"name": "华南销售部"})["id"]
    post(
        "/api/v1/roles",
        {
            "name": "sales_rep",
            "grants": [{"resource": "customers", "action": "read", "scope": "department"}],
        },
    )
    rep = post(
        "/api/v1/users",
        {
            "username": REP,
            "password": PASSWORD,
            "roles": ["sales_rep"],
            "name": "李销售",
            "department_id": east,
        },
    )
    other = post(
        "/api/v1/users",
        {
            "username": "wu_rep",
            "password": PASSWORD,
            "roles": ["sales_rep"],
            "name": "吴销售",
            "department_id": south,
        },
    )
    for name in REP_CUSTOMERS:
        post(
            "/api/v1/customers",
            {"name": name, "owner_id": rep["id"], "department_id": east, "lifecycle_stage": "vip"},
        )
    elsewhere = post(
        "/api/v1/customers",
        {"name": OTHER_CUSTOMER, "owner_id": other["id"], "department_id": south, "lifecycle_stage": "lead"},
    )
    return {"api": api, "headers": headers, "elsewhere": elsewhere["id"]}


@pytest.fixture(scope="module")
def journey_server(tmp_path_factory):
    """crm-core with every installed plugin (loyalty and channel tracking among them) on a free
    port, from a temp SQLite database holding only the journey's data (``BASE_URL`` is the
    served address: the short links and QR codes point at this server)."""
    from crm_core.browser_testing import live_server

    def seed(app):
        loaded = set(app.extensions["crm"].plugins.plugin_names())
        assert {"loyalty", "channel_tracking"} <= loaded, f"both plugins must be loaded: {loaded}"
        return _seed(app)

    with live_server(tmp_path_factory.mktemp("journey-server"), seed=seed) as server:
        yield server


@pytest.fixture(scope="module")
def probes(journey_server):
    """The English msgids of every loaded catalogue, as the zh-CN crawl looks for them."""
    return _crawl_module().catalogue_probes(journey_server["app"])


@pytest.fixture
def step(shot, probes):
    """``step(page, name, *labels)``: the page is in Chinese (``lang``, the ``labels`` shown, no
    English catalogue string in its visible text) and its screenshot is saved as ``journey-<name>``."""
    crawl = _crawl_module()

    def check(page, name, *labels):
        page.wait_for_load_state()
        shot(page, f"journey-{name}")
        assert page.get_attribute("html", "lang") == "zh-CN", page.url
        text, _links = crawl.visible(page.content())
        found = crawl.untranslated(text, probes)
        assert not found, f"{page.url}: English on a zh-CN page: {found}"
        for label in labels:
            assert label in text, f"{page.url}: {label!r} not shown"

    return check


@pytest.fixture
def open_as(browser, journey_server, login):
    """``open_as(username, locale)``: a signed-in page in a fresh browser context of that language."""
    contexts = []

    def run(username, locale="zh-CN"):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
        context.set_default_timeout(15000)
        contexts.append(context)
        page = context.new_page()
        login(page, journey_server["url"], username, PASSWORD)
        return page

    yield run
    for context in contexts:
        context.close()


def _api_total(server, path) -> int:
    r = server["api"].get(path, headers=server["headers"])
    assert r.status_code == 200, r.get_json()
    return json.loads(r.headers["X-Pagination"])["total"]


def _charts_drawn(page, selector: str) -> None:
    wait_until(
        page,
        f"[...document.querySelectorAll({selector!r})].length > 0 && "
        f"[...document.querySelectorAll({selector!r})].every(c => c.dataset.ctDrawn !== undefined)",
    )


def test_new_user_journey_in_chinese(open_as, journey_server, step):
    base = journey_server["url"]
    page = open_as(ADMIN)
    step(page, "00-dashboard")

    # --- 1. import an Excel-made GBK file with Chinese headings --------------------------------
    page.click("a[href='/records/customers/']")
    page.wait_for_url(base + "/records/customers/**")
    page.click("a[href='/records/customers/import']")
    page.wait_for_url(base + "/records/customers/import")
    body = "姓名,手机,邮箱\n周杰,13800138000,zhoujie@example.com\n林静,13900139000,linjing@example.com\n"
    page.set_input_files(
        "input[name=file]", {"name": "客户名单.csv", "mimeType": "text/csv", "buffer": body.encode("gbk")}
    )
    step(page, "01-import-upload", "下一步：预览")
    page.click("button:has-text('下一步：预览')")
    page.wait_for_selector("#import-preview")
    preview = page.locator("#import-preview").inner_text()
    assert "周杰" in preview and "林静" in preview, preview  # GBK read as such, not mojibake
    assert [page.locator(f"select[name=column-{i}]").input_value() for i in range(3)] == [
        "name",
        "phone",
        "email",
    ]
    step(page, "02-import-mapping", "周杰", "姓名", "手机", "邮箱")
    page.click("#import-mapping button[type=submit]")
    page.wait_for_selector("#task-progress")
    step(page, "03-import-progress")
    from crm_core.jobs.tasks import run_pending

    worker = threading.Thread(target=run_pending, args=(journey_server["app"],))
    worker.start()
    worker.join(timeout=60)
    page.wait_for_selector("#task-progress[data-status=done] #import-result", timeout=20000)
    assert "已导入 2 行，0 行被拒绝。" in page.locator("#import-result").inner_text()
    step(page, "04-import-result")
    page.goto(base + "/records/customers/")
    assert "周杰" in page.locator("main").inner_text()
    step(page, "05-customer-list", "周杰", "林静")
    page.click("main tr:has(td:text-is('周杰')) a")  # the row's link (its number)
    page.wait_for_url(base + "/records/customers/*")
    assert "13800138000" in page.locator("[data-field=phone]").inner_text()
    assert page.locator("[data-field=email]").inner_text().strip() == "zhoujie@example.com"
    step(page, "05b-customer-detail", "周杰", "手机", "邮箱")

    # --- 2. loyalty: enrol with the picker, credit, redeem, balance and ledger -----------------
    page.click("a[href='/loyalty/']")
    page.wait_for_url(base + "/loyalty/members")
    step(page, "06-loyalty-members", "积分会员")
    page.click("#enrol-member")
    page.locator("#customer-search").press_sequentially("周杰", delay=50)
    choice = page.locator("#customer-results label:has-text('周杰') input[type=radio]")
    choice.wait_for()
    step(page, "07-loyalty-enrol-picker", "周杰")
    choice.check()
    page.fill("input[name=channel]", "门店")
    page.click("#enrol-form button[type=submit]")
    page.wait_for_url(base + "/loyalty/members/*")
    assert page.locator("h1").inner_text() == "周杰"
    step(page, "08-loyalty-member")
    page.fill("#adjust-form input[name=points]", "500")
    page.fill("#adjust-form input[name=reason]", "开业赠送积分")
    page.click("#adjust-form button[type=submit]")
    page.locator(".crm-flash-success").wait_for()
    assert page.locator("[data-points=balance]").inner_text() == "500"
    step(page, "09-loyalty-adjusted", "开业赠送积分")
    page.fill("#redeem-form input[name=points]", "200")
    page.fill("#redeem-form input[name=reason]", "兑换礼品卡")
    page.click("#redeem-form button[type=submit]")
    page.locator(".crm-flash-success").wait_for()
    assert page.locator("[data-points=balance]").inner_text() == "300"
    ledger = page.locator("#ledger")
    assert ledger.locator("tr[data-kind=redeem] [data-entry-points]").inner_text().strip() == "-200"
    assert "+500" in ledger.inner_text() and "兑换礼品卡" in ledger.inner_text()
    step(page, "10-loyalty-redeemed", "积分", "兑换礼品卡")

    # --- 3. a campaign, its QR link, the funnel and the ROI ------------------------------------
    page.click(".crm-menu >> text=渠道活动")
    page.wait_for_selector("#campaigns")
    page.click("#new-campaign")
    page.fill("input[name=name]", "双十一抖音推广")
    page.fill("input[name=utm_campaign]", "double11")
    page.fill("input[name=utm_source]", "douyin")
    page.fill("input[name=new_channel_name]", "抖音达人")
    page.select_option("select[name=new_channel_group]", "kol")
    page.fill("input[name=budget]", "5000")
    step(page, "11-campaign-form", "新建活动")
    page.click("#save-campaign")
    page.wait_for_selector("#kpis")
    assert page.inner_text("#campaign-name") == "双十一抖音推广"
    campaign_url = page.url
    page.fill("input[name=target_url]", base + "/")
    page.click("#create-link")
    page.wait_for_selector(".crm-flash-success")
    wait_until(
        page,
        "[...document.querySelectorAll('img.ct-qr')].length === 1 && "
        "[...document.querySelectorAll('img.ct-qr')].every(i => i.complete)",
    )
    widths = page.eval_on_selector_all("img.ct-qr", "imgs => imgs.map(i => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths), widths
    step(page, "12-campaign-qr", "双十一抖音推广")
    short = page.get_attribute(".ct-link a[data-short]", "href")
    assert short.startswith(base + "/t/"), short
    page.fill("#spend-form input[name=day]", date.today().isoformat())
    page.fill("#spend-form input[name=amount]", "300")
    page.click("#spend-form button[type=submit]")
    page.wait_for_selector(".crm-flash-success")
    assert page.inner_text("[data-kpi=spend]") == "300.00"
    # a customer scans the QR code, then opens the link again: two steps of one visitor
    for scanned in (short + "?qr=1", short):
        page.goto(scanned)  # redirected to the destination, the campaign's UTM values added
        assert page.url.startswith(base + "/?") and "utm_campaign=double11" in page.url, page.url
    page.goto(campaign_url)
    assert "2 次点击" in page.inner_text(".ct-link"), page.inner_text(".ct-link")

    page.goto(base + "/channel-tracking/funnels")
    page.select_option("select[data-step='1']", "qr_scan")
    page.select_option("select[data-step='2']", "link_click")
    for slot in range(3, page.locator("select[name=step]").count() + 1):
        page.select_option(f"select[data-step='{slot}']", "")
    page.click("#build-funnel")
    page.wait_for_selector("#funnel-steps")
    _charts_drawn(page, "#funnel-chart")
    assert [page.inner_text(f"[data-count='{i}']") for i in (1, 2)] == ["1", "1"]
    step(page, "13-funnel", "漏斗")
    page.goto(base + "/channel-tracking/roi")
    _charts_drawn(page, "canvas[data-ct-chart]")
    assert page.inner_text("h1") == "渠道与达人 ROI"
    kol = page.inner_text("#roi-table-channel tr[data-key=kol]")
    assert "300.00" in kol, kol  # the campaign's spend, on its channel's row
    step(page, "14-roi", "渠道与达人 ROI")

    # --- 4. a segment with the filter builder, an automation with the rule builder -------------
    page.goto(base + "/records/segments/new")
    page.fill("input[name=name]", "贵宾客户")
    page.select_option("select[name=f-0-field]", "lifecycle_stage")
    page.wait_for_selector("select[name=f-0-op]")
    page.select_option("select[name=f-0-op]", "eq")
    page.select_option("select[name=f-0-value]", "vip")
    expected = _api_total(journey_server, "/api/v1/customers?lifecycle_stage=vip&page_size=1")
    assert expected == len(REP_CUSTOMERS)
    wait_until(page, f"document.querySelector('#segment-count').dataset.count === '{expected}'")
    assert f"{expected} 位客户符合" in page.locator("#segment-count").inner_text()
    step(page, "15-segment-builder", "生命周期阶段")
    page.click("#segment-save")
    page.wait_for_url(base + "/records/segments/*")
    assert page.locator("#segment-size").get_attribute("data-count") == str(expected)
    step(page, "16-segment-saved", "贵宾客户")

    page.goto(base + "/records/automations/new")
    page.fill("input[name=name]", "贵宾回访")
    page.select_option("select[name=trigger_choice]", "customer.updated")
    page.click("#c-add")
    page.select_option("select[name=c-0-field]", "customer.lifecycle_stage")
    page.select_option("select[name=c-0-op]", "eq")
    page.select_option("select[name=c-0-value]", "vip")
    page.select_option("select[name=a-0-type]", "create_task")
    page.fill("input[name=a-0-p-subject]", "贵宾回访电话")
    page.fill("input[name=a-0-p-due_in_hours]", "24")
    page.select_option("select[name=a-0-p-assignee]", "rule_owner")
    step(page, "17-automation-builder", "自动化规则", "添加动作")
    page.click("#automation-save")
    page.wait_for_url(base + "/records/automations/*")
    summary = page.locator("#rule-summary").inner_text()
    assert "客户 · 已更新" in summary and "为客户创建任务" in summary and "贵宾回访电话" in summary
    assert "\\u" not in page.content()
    step(page, "18-automation-saved", "贵宾回访电话")

    # --- 5. the sales rep sees only their department's customers -------------------------------
    # an English browser: the rep chooses 简体中文 in the language switch
    rep = open_as(REP, "en-US")
    assert rep.get_attribute("html", "lang") == "en"
    rep.click("details.dropdown summary")
    rep.click("button[data-lang=zh_CN]")
    rep.wait_for_load_state()
    step(rep, "19-rep-dashboard", "仪表盘")
    rep.click("a[href='/records/customers/']")
    rep.wait_for_url(base + "/records/customers/**")
    listed = rep.locator("main").inner_text()
    for name in REP_CUSTOMERS:
        assert name in listed, listed
    for name in (OTHER_CUSTOMER, "周杰", "林静"):
        assert name not in listed, f"the rep sees {name}: {listed}"
    step(rep, "20-rep-customers", *REP_CUSTOMERS)
    rep.fill("#global-search input[name=q]", "陈")
    rep.press("#global-search input[name=q]", "Enter")
    rep.wait_for_url(base + "/search?**")
    found = rep.locator("main").inner_text()
    assert all(name in found for name in REP_CUSTOMERS), found
    assert OTHER_CUSTOMER not in found, f"search shows the rep {OTHER_CUSTOMER}: {found}"
    assert rep.locator("[data-hit]").count() == len(REP_CUSTOMERS)
    step(rep, "21-rep-search", *REP_CUSTOMERS)
    rep.fill("#global-search input[name=q]", "周杰")
    rep.press("#global-search input[name=q]", "Enter")
    rep.wait_for_selector("#no-results")
    step(rep, "22-rep-search-nothing")
    # nor by its address: another department's customer is not there for the rep
    response = rep.goto(base + f"/records/customers/{journey_server['elsewhere']}")
    assert response.status in (403, 404), response.status
    refused = rep.locator("main").inner_text()
    assert OTHER_CUSTOMER not in refused
    step(rep, "23-rep-other-customer-refused", "页面不存在")
    # the refusal names the kind of record in the reader's language, not by its API name
    # (it said "不存在 customers 记录 3。": permissions.get_record's message takes the resource as is)
    assert "customers" not in refused, refused
