"""The WeCom, DingTalk and Feishu robots against a local fake of each platform (tests/fake_im.py)
that checks the key or signature, the clock window and keywords, and enforces the documented
limits with the documented error codes; the clock of the sender and the fake is injected."""

import base64
import datetime as dt
import hashlib
import hmac
import urllib.parse

import pytest
from fake_im import FakeIM

from crm_core.db import utcnow
from crm_core.messaging import deliver_due, delivery_status, send_message
from crm_core.messaging.models import MessageAttempt, MessageChannelConfig
from crm_core.messaging.robots import dingtalk_sign, feishu_sign

# a little ahead of the real clock: messages are queued due "now"
#: the injected clock: hours ahead of the real one, so a message queued at real time is due at T0
#: however late in a long run (modules are imported when the run starts) the test comes
T0 = utcnow().replace(microsecond=0) + dt.timedelta(hours=6)


@pytest.fixture(scope="module")
def fake():
    server = FakeIM().start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, fake):
    return {**app_config, **fake.settings()}


@pytest.fixture
def im(fake, app):
    """The fake, emptied, its clock at T0."""
    fake.__init__()
    fake.now = T0
    return fake


def channel(client, headers, **data):
    response = client.post("/api/v1/messaging/channels", json=data, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def run(im, at):
    im.now = at
    return deliver_due(now=at)


def test_wecom_key_is_sealed_and_20_a_minute_are_spread_not_refused(client, admin_headers, im):
    im.wecom["K-secret-key"] = []
    made = channel(
        client, admin_headers, name="sales-wecom", kind="wecom_robot", secrets={"key": "K-secret-key"}
    )
    assert made["secrets_set"] == ["key"] and "K-secret-key" not in str(made)
    listed = client.get("/api/v1/messaging/channels", headers=admin_headers).get_json()
    assert "K-secret-key" not in str(listed)
    assert "K-secret-key" not in MessageChannelConfig.get(MessageChannelConfig.name == "sales-wecom").secret
    ids = [
        send_message("sales-wecom", {"group": "sales"}, {"kind": "text", "text": f"order {i}"})
        for i in range(23)
    ]
    assert run(im, T0) == 20
    assert len(im.wecom["K-secret-key"]) == 20 and ("wecom", 45009) not in im.log
    waiting = [delivery_status(i) for i in ids[20:]]
    assert {d["status"] for d in waiting} == {"queued"}
    assert all(d["next_attempt_at"] == T0 + dt.timedelta(seconds=60) for d in waiting)
    assert run(im, T0 + dt.timedelta(seconds=30)) == 0
    assert run(im, T0 + dt.timedelta(seconds=60)) == 3
    assert {delivery_status(i)["status"] for i in ids} == {"sent"}


def test_wecom_long_text_is_split_by_utf8_bytes_and_markdown_has_its_own_limit(client, admin_headers, im):
    im.wecom["K2"] = []
    channel(client, admin_headers, name="ops", kind="wecom_robot", secrets={"key": "K2"})
    text = "订单已发货，请注意查收。\n" * 200  # 36 bytes a line: 7,200 bytes
    delivery = send_message("ops", {"group": "ops"}, {"kind": "text", "text": text})
    markdown = send_message("ops", {"group": "ops"}, {"kind": "markdown", "text": "**粗体**" * 400})
    run(im, T0)
    sent = im.wecom["K2"]
    texts = [m["text"]["content"] for m in sent if m["msgtype"] == "text"]
    assert len(texts) == 4 and "".join(texts) == text
    assert all(len(t.encode()) <= 2048 and t.endswith("\n") for t in texts)
    md = [m["markdown"]["content"] for m in sent if m["msgtype"] == "markdown"]
    assert len(md) == 1 and len(md[0].encode()) == 4000
    assert delivery_status(delivery)["status"] == "sent" and delivery_status(markdown)["status"] == "sent"
    assert MessageAttempt.select().where(MessageAttempt.delivery == delivery).count() == 4
    too_long = client.post(
        "/api/v1/messaging/messages",
        json={"channel": "ops", "to": {"group": "ops"}, "message": {"text": "长" * 30000}},
        headers=admin_headers,
    )
    assert too_long.status_code == 422 and "message.text" in too_long.get_json()["errors"]


def test_wecom_platform_limit_answer_is_retried_after_the_window(client, admin_headers, im):
    """Another system posting to the same robot uses up its minute: 45009, retried later."""
    im.wecom["K3"] = []
    im.stamps["wecom:K3"] = [T0] * 20
    channel(client, admin_headers, name="shared", kind="wecom_robot", secrets={"key": "K3"})
    delivery = send_message("shared", {"group": "g"}, {"text": "hello"})
    run(im, T0 + dt.timedelta(seconds=1))
    status = delivery_status(delivery)
    assert status["status"] == "retrying" and status["last_code"] == "45009"
    assert status["next_attempt_at"] >= T0 + dt.timedelta(seconds=61)
    run(im, status["next_attempt_at"])
    assert delivery_status(delivery)["status"] == "sent" and len(im.wecom["K3"]) == 1


def test_wecom_bad_key_fails_without_retry(client, admin_headers, im):
    channel(client, admin_headers, name="gone", kind="wecom_robot", secrets={"key": "not-a-robot"})
    delivery = send_message("gone", {"group": "g"}, {"text": "hello"})
    run(im, T0)
    status = delivery_status(delivery)
    assert status["status"] == "failed" and status["last_code"] == "93000" and status["attempts"] == 1


def test_dingtalk_signature_keywords_and_the_ten_minute_block(client, admin_headers, im):
    im.dingtalk["TOKEN"] = {"secret": "SEC-ding", "keywords": ["CRM"], "messages": []}
    channel(
        client,
        admin_headers,
        name="ding",
        kind="dingtalk_robot",
        secrets={"access_token": "TOKEN", "secret": "SEC-ding"},
        settings={"keywords": ["CRM"]},
    )
    first = send_message("ding", {"group": "g"}, {"kind": "markdown", "text": "# 新订单\n金额 100"})
    run(im, T0)
    assert delivery_status(first)["status"] == "sent"
    got = im.dingtalk["TOKEN"]["messages"][0]
    assert got["markdown"]["text"].startswith("[CRM] ") and "CRM" in got["markdown"]["title"]
    # someone else fills the robot's minute: DingTalk answers 130101 and blocks it for 10 minutes
    im.stamps["dingtalk:TOKEN"] = [T0] * 20
    later = [send_message("ding", {"group": "g"}, {"text": f"CRM {i}"}) for i in range(3)]
    run(im, T0 + dt.timedelta(seconds=10))
    assert delivery_status(later[0])["last_code"] == "130101"
    blocked_until = T0 + dt.timedelta(seconds=10 + 600)
    assert delivery_status(later[0])["next_attempt_at"] >= blocked_until
    # the rest are held, not sent into the block
    assert [c for p, c in im.log if p == "dingtalk"].count(130101) == 1
    run(im, T0 + dt.timedelta(minutes=5))
    assert [c for p, c in im.log if p == "dingtalk"].count(130101) == 1
    run(im, blocked_until + dt.timedelta(seconds=300))
    assert {delivery_status(i)["status"] for i in later} == {"sent"}


def test_dingtalk_refuses_a_wrong_secret_and_a_skewed_clock(client, admin_headers, im):
    im.dingtalk["T2"] = {"secret": "right", "messages": []}
    channel(
        client,
        admin_headers,
        name="wrong",
        kind="dingtalk_robot",
        secrets={"access_token": "T2", "secret": "wrong"},
    )
    channel(
        client,
        admin_headers,
        name="right",
        kind="dingtalk_robot",
        secrets={"access_token": "T2", "secret": "right"},
    )
    bad = send_message("wrong", {"group": "g"}, {"text": "x"})
    skewed = send_message("right", {"group": "g"}, {"text": "x"})
    im.now = T0 + dt.timedelta(hours=2)  # DingTalk's clock is two hours ahead of ours
    deliver_due(now=T0)
    assert delivery_status(bad)["last_code"] == "310000" and delivery_status(bad)["status"] == "failed"
    assert delivery_status(skewed)["status"] == "failed"
    assert MessageAttempt.get(MessageAttempt.delivery == skewed).error == "invalid timestamp"


def test_feishu_signature_in_the_body_and_429(client, admin_headers, im):
    im.feishu["HOOK"] = {"secret": "fs-secret", "messages": []}
    channel(
        client,
        admin_headers,
        name="lark",
        kind="feishu_bot",
        secrets={"token": "HOOK", "secret": "fs-secret"},
    )
    channel(
        client, admin_headers, name="lark-bad", kind="feishu_bot", secrets={"token": "HOOK", "secret": "nope"}
    )
    ids = [send_message("lark", {"group": "g"}, {"kind": "text", "text": f"飞书 {i}"}) for i in range(6)]
    bad = send_message("lark-bad", {"group": "g"}, {"text": "x"})
    run(im, T0)
    body = im.feishu["HOOK"]["messages"][0]
    assert body["timestamp"] == str(int((T0 - dt.datetime(1970, 1, 1)).total_seconds()))
    assert body["content"] == {"text": "飞书 0"}
    # 5 a second: the sixth waits a second instead of meeting the 429
    assert len(im.feishu["HOOK"]["messages"]) == 5 and delivery_status(ids[5])["status"] == "queued"
    assert delivery_status(bad)["status"] == "failed" and delivery_status(bad)["last_code"] == "19021"
    run(im, T0 + dt.timedelta(seconds=1))
    assert delivery_status(ids[5])["status"] == "sent"


def test_signatures_match_the_documented_recipes():
    """Golden values computed by hand from the platforms' formulas (fixed secret and time)."""
    secret, ms = "SECabc", 1700000000000
    raw = hmac.new(secret.encode(), f"{ms}\n{secret}".encode(), hashlib.sha256).digest()
    assert dingtalk_sign(secret, ms) == urllib.parse.quote_plus(base64.b64encode(raw).decode())
    key = f"{ms // 1000}\n{secret}".encode()
    assert (
        feishu_sign(secret, ms // 1000)
        == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    )
    assert (
        feishu_sign(secret, 1)
        != base64.b64encode(hmac.new(secret.encode(), key, hashlib.sha256).digest()).decode()
    )
