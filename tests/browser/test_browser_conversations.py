"""A conversation of the archive in real headless Chromium, in a Chinese and an English browser:
ingested over the API, linked from the customer's page, its messages shown decrypted.

Screenshots go to ``test-artifacts/screenshots/`` (``conversation-*.png``).
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_conversation_reads_decrypted(browser, live_server, login, shot, locale):
    base, api, h = live_server["url"], live_server["api"], live_server["headers"]
    customer = api.post("/api/v1/customers", json={"name": f"会话 Chat {locale}"}, headers=h).get_json()
    batch = {
        "source": f"webchat-{locale.lower()}",
        "channel": "webchat",
        "messages": [
            {
                "external_id": f"m{i}",
                "conversation": "chat-1",
                "sent_at": f"2026-03-01T10:0{i}:00+08:00",
                "sender": {"kind": "customer", "external_id": "visitor-1"},
                "customer_id": customer["id"],
                "type": "text",
                "content": text,
            }
            for i, text in enumerate(["您好，想预约周六的课。", "Saturday 10:00 works for me."])
        ],
    }
    r = api.post("/api/v1/conversations/messages", json=batch, headers=h)
    assert r.status_code == 200, r.get_json()
    (conversation,) = r.get_json()["conversations"]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        login(page, base, "admin")
        page.goto(f"{base}/conversations/{conversation}")
        main = page.inner_text("main")
        assert "您好，想预约周六的课。" in main and "Saturday 10:00 works for me." in main
        shot(page, f"conversation-{locale}")
    finally:
        context.close()
