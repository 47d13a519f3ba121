"""The messaging admin screen in real headless Chromium, in a Chinese and an English browser:
channels configured over the API (their secrets never on the page) and recent deliveries with
their status in the reader's language (nothing is sent: the test never reaches a real robot).

Screenshots go to ``test-artifacts/screenshots/`` (``messaging-*.png``).
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WORDS = {
    "zh-CN": ["消息通知", "企业微信群机器人", "钉钉机器人", "已拒绝", "排队中", "营销", "未同意营销"],
    "en-US": [
        "Messaging",
        "WeCom group robot",
        "DingTalk robot",
        "Refused",
        "Queued",
        "Marketing",
        "No marketing consent",
    ],
}


@pytest.fixture(scope="module")
def messages(live_server):
    api, h = live_server["api"], live_server["headers"]
    channels = [
        {
            "name": "shop-wecom",
            "kind": "wecom_robot",
            "label": "门店群",
            "secrets": {"key": "WECOM-KEY-never-shown"},
        },
        {
            "name": "shop-ding",
            "kind": "dingtalk_robot",
            "secrets": {"access_token": "DING-TOKEN", "secret": "SECnever"},
        },
    ]
    made = [api.post("/api/v1/messaging/channels", json=c, headers=h).get_json() for c in channels]
    send = [
        {
            "channel": "shop-wecom",
            "to": {"group": "g"},
            "message": {"kind": "markdown", "text": "**新订单** 88 元"},
        },
        {
            "channel": "shop-ding",
            "to": {"customer_id": live_server["customer"]},
            "purpose": "marketing",
            "message": {"text": "双十一优惠"},
        },
    ]
    for body in send:
        r = api.post("/api/v1/messaging/messages", json=body, headers=h)
        assert r.status_code == 202, r.get_json()
    return made


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_messaging_screen_lists_channels_and_deliveries(browser, live_server, login, shot, messages, locale):
    base = live_server["url"]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        login(page, base, "admin")
        page.goto(f"{base}/admin/")
        page.click(f"text={WORDS[locale][0]}")
        page.wait_for_url(f"{base}/admin/messaging")
        main = page.inner_text("main")
        for word in WORDS[locale]:
            assert word in main, (word, main)
        assert "shop-wecom" in main and "门店群" in main
        html = page.content()
        assert "WECOM-KEY-never-shown" not in html and "SECnever" not in html and "DING-TOKEN" not in html
        shot(page, f"messaging-{locale}")
        page.select_option("select[name=status]", "refused")
        page.click("form.crm-toolbar button[type=submit]")
        page.wait_for_url("**status=refused**")
        assert WORDS[locale][-1] in page.inner_text("main") and "**新订单**" not in page.inner_text("main")
    finally:
        context.close()


ACTION = {"zh-CN": "发送消息（机器人、短信）", "en-US": "Send a message (robot, SMS)"}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_rule_sends_a_message_built_in_the_editor(browser, live_server, login, shot, messages, locale):
    base, api, h = live_server["url"], live_server["api"], live_server["headers"]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        login(page, base, "admin")
        page.goto(f"{base}/automations/new")
        page.fill("input[name=name]", f"paid robot {locale}")
        page.select_option("select[name=trigger_choice]", "customer.updated")
        page.select_option("select[name=a-0-type]", "send_message")
        assert ACTION[locale] in page.inner_text("main")
        page.select_option("select[name=a-0-p-channel]", "shop-wecom")
        page.select_option("select[name=a-0-p-to]", "group")
        page.fill("textarea[name=a-0-p-text], input[name=a-0-p-text]", "{customer_name} 已更新")
        shot(page, f"messaging-rule-{locale}")
        page.click("#automation-save")
        page.wait_for_url(base + "/records/automations/*")
        rid = int(page.url.rsplit("/", 1)[1])
        rule = api.get(f"/api/v1/automations/{rid}", headers=h).get_json()
        (action,) = rule["actions"]
        assert action["type"] == "send_message"
        assert action["params"]["channel"] == "shop-wecom" and action["params"]["to"] == "group"
        assert action["params"]["text"] == "{customer_name} 已更新"
    finally:
        context.close()
