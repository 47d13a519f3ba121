"""Messaging through its public interface: a plugin's channel and veto (the hooks), retries with
backoff, idempotency keys, the admin API (permissions, validation, the log with attempts), and an
automation rule whose send_message actions reach the fake WeCom and DingTalk robots signed."""

import datetime as dt
import threading

import pytest
from fake_im import FakeIM

from crm_core import hookimpl
from crm_core.automations.models import AutomationRule, AutomationRun
from crm_core.db import database, utcnow
from crm_core.events import emit
from crm_core.events.dispatcher import dispatch_pending
from crm_core.messaging import (
    ChannelLimits,
    MessageChannel,
    SendResult,
    deliver_due,
    delivery_status,
    send_message,
)
from crm_core.messaging.models import MessageAttempt, MessageDelivery
from crm_core.ops.metrics import render
from crm_core.testing import run_cli

#: the injected clock: hours ahead of the real one, so a message queued at real time is due at T0
#: however late in a long run (modules are imported when the run starts) the test comes
T0 = utcnow().replace(microsecond=0) + dt.timedelta(hours=6)


class Pager:
    """A plugin offering a channel (fails on demand) and vetoing alerts to customer 13."""

    def __init__(self):
        self.sent, self.failures, self.asked = [], 0, []

    def send(self, recipient, message):
        if self.failures:
            self.failures -= 1
            return SendResult(False, "503", "busy", retryable=True)
        self.sent.append((recipient, message["text"], message["key"]))
        return SendResult(True, "ok", provider_ref=f"p{len(self.sent)}")

    @hookimpl
    def crm_message_channels(self):
        return [
            MessageChannel(
                name="pager", kinds=("text",), send=self.send, limits=ChannelLimits(windows=((2, 10),))
            )
        ]

    @hookimpl
    def crm_message_allowed(self, customer_id, purpose, channel):
        self.asked.append((customer_id, purpose, channel))
        return False if purpose == "alert" else None


@pytest.fixture
def pager_app(register_plugin, make_user):
    plugin = Pager()
    application = register_plugin(plugin, "pager")
    _user, headers = make_user("messaging_admin")
    with application.app_context():
        yield application.test_client(), headers, plugin


def test_plugin_channel_retries_with_backoff_keys_and_veto(pager_app):
    client, headers, pager = pager_app
    pager.failures = 2
    first = send_message("pager", {"group": "ops"}, {"text": "disk full"}, key="alert-1")
    assert send_message("pager", {"group": "ops"}, {"text": "disk full"}, key="alert-1") == first
    deliver_due(now=T0)
    after_one = delivery_status(first)
    assert after_one["status"] == "retrying" and after_one["last_code"] == "503"
    wait1 = (after_one["next_attempt_at"] - T0).total_seconds()
    deliver_due(now=after_one["next_attempt_at"])
    after_two = delivery_status(first)
    wait2 = (after_two["next_attempt_at"] - after_one["next_attempt_at"]).total_seconds()
    assert 24 <= wait1 <= 36 and 48 <= wait2 <= 72  # 30 s, then doubled (+/- 20 % jitter)
    deliver_due(now=after_two["next_attempt_at"])
    assert delivery_status(first)["status"] == "sent" and delivery_status(first)["attempts"] == 3
    scrape = render(client.application).decode()
    assert 'crm_message_deliveries{channel="pager",status="sent"} 1.0' in scrape
    assert pager.sent == [({"group": "ops"}, "disk full", "alert-1")]
    vetoed = send_message("pager", {"group": "ops"}, {"text": "x"}, purpose="alert")
    assert (
        delivery_status(vetoed)["status"] == "refused"
        and delivery_status(vetoed)["last_code"] == "vetoed:pager"
    )
    assert (None, "alert", "pager") in pager.asked
    # the API shows the delivery with every attempt, and lists the plugin's channel
    detail = client.get(f"/api/v1/messaging/deliveries/{first}", headers=headers).get_json()
    assert [a["outcome"] for a in detail["attempt_log"]] == ["failed", "failed", "sent"]
    offered = client.get("/api/v1/messaging/channels/offered", headers=headers).get_json()
    assert {
        "name": "pager",
        "kinds": ["text"],
        "channel_kind": "robot",
        "plugin": "pager",
        "label": "pager",
    } in offered


def test_the_rate_window_holds_across_concurrent_senders(pager_app):
    """Two sender processes at once (threads with their own connections) never exceed it."""
    client, headers, pager = pager_app
    for i in range(6):
        send_message("pager", {"group": "g"}, {"text": f"m{i}"})
    app = client.application
    counts = []

    def worker():
        with app.app_context():
            database.connect(reuse_if_open=True)
            try:
                counts.append(deliver_due(now=T0))
            finally:
                database.close()

    database.close()
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    database.connect(reuse_if_open=True)
    assert sum(counts) == 2 and len(pager.sent) == 2


def test_admin_api_permissions_validation_and_secrets(client, admin_headers, make_user):
    _user, clerk = make_user("clerk", roles=("sales",))
    assert client.get("/api/v1/messaging/channels", headers=clerk).status_code == 403
    bad = client.post(
        "/api/v1/messaging/channels",
        json={"name": "Bad Name", "kind": "wecom_robot", "secrets": {"key": "k"}},
        headers=admin_headers,
    )
    assert bad.status_code == 422 and "name" in bad.get_json()["errors"]
    missing = client.post(
        "/api/v1/messaging/channels",
        json={"name": "ding", "kind": "dingtalk_robot", "secrets": {}},
        headers=admin_headers,
    )
    assert missing.status_code == 422 and "secrets.access_token" in missing.get_json()["errors"]
    zh = client.post(
        "/api/v1/messaging/channels",
        json={"name": "x", "kind": "nope", "secrets": {}},
        headers={**admin_headers, "Accept-Language": "zh-CN"},
    )
    assert zh.status_code == 422
    made = client.post(
        "/api/v1/messaging/channels",
        json={
            "name": "ding",
            "kind": "dingtalk_robot",
            "secrets": {"access_token": "TOKxyz9"},
            "settings": {"keywords": ["CRM"]},
        },
        headers=admin_headers,
    ).get_json()
    patched = client.patch(
        f"/api/v1/messaging/channels/{made['id']}",
        json={"secrets": {"secret": "SEC123"}},
        headers=admin_headers,
    ).get_json()
    assert patched["secrets_set"] == ["access_token", "secret"] and "SEC123" not in str(patched)
    audit = client.get("/api/v1/audit?resource=messaging", headers=admin_headers).get_json()
    assert "SEC123" not in str(audit) and "TOKxyz9" not in str(audit)
    assert client.delete(f"/api/v1/messaging/channels/{made['id']}", headers=admin_headers).status_code == 204


@pytest.fixture(scope="module")
def fake():
    server = FakeIM().start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, fake):
    return {**app_config, **fake.settings()}


def test_an_automation_rule_messages_the_wecom_and_dingtalk_robots(
    client, admin_headers, fake, app, make_user
):
    fake.__init__()
    fake.now = T0
    fake.wecom["WK"] = []
    fake.dingtalk["DT"] = {"secret": "SEC-auto", "keywords": ["订单"], "messages": []}
    for data in (
        {"name": "shop-wecom", "kind": "wecom_robot", "secrets": {"key": "WK"}},
        {
            "name": "shop-ding",
            "kind": "dingtalk_robot",
            "secrets": {"access_token": "DT", "secret": "SEC-auto"},
            "settings": {"keywords": ["订单"]},
        },
    ):
        assert client.post("/api/v1/messaging/channels", json=data, headers=admin_headers).status_code == 201
    text = "{customer_name} 付款 {amount} 元（{event_type}）"
    rule = {
        "name": "paid to robots",
        "trigger": "order.paid",
        "actions": [
            {
                "type": "send_message",
                "params": {"channel": "shop-wecom", "to": "group", "kind": "markdown", "text": text},
            },
            {"type": "send_message", "params": {"channel": "shop-ding", "to": "group", "text": text}},
        ],
    }
    made = client.post("/api/v1/automations", json=rule, headers=admin_headers)
    assert made.status_code == 201, made.get_json()
    customer = client.post("/api/v1/customers", json={"name": "韩梅梅"}, headers=admin_headers).get_json()
    with database.atomic():
        emit(
            "order.paid", {"order_id": 7, "customer_id": customer["id"], "amount": "88.00", "currency": "CNY"}
        )
    dispatch_pending()
    dispatch_pending()  # a second pass finds the deliveries already queued (keys): no duplicates
    deliver_due(now=T0)
    assert [m["markdown"]["content"] for m in fake.wecom["WK"]] == ["韩梅梅 付款 88.00 元（order.paid）"]
    ding = fake.dingtalk["DT"]["messages"]
    assert [m["text"]["content"] for m in ding] == ["[订单] 韩梅梅 付款 88.00 元（order.paid）"]
    assert ("dingtalk", 0) in fake.log and ("dingtalk", 310000) not in fake.log
    assert MessageAttempt.select().count() == 2
    # a rule whose owner may not send messages fails, once, without queueing anything
    sales, _ = make_user("sales_owner", roles=("sales",))
    AutomationRule.update(owner_id=sales.id).execute()
    with database.atomic():
        emit(
            "order.paid", {"order_id": 8, "customer_id": customer["id"], "amount": "1.00", "currency": "CNY"}
        )
    dispatch_pending()
    failed = AutomationRun.select().where(AutomationRun.status == "failed").get()
    assert failed.error.startswith("403") and failed.attempts == 1
    assert MessageDelivery.select().count() == 2


def test_test_message_endpoint_and_retention_of_finished_messages(pager_app):
    client, headers, pager = pager_app
    made = client.post(
        "/api/v1/messaging/channels",
        json={"name": "bad-robot", "kind": "wecom_robot", "secrets": {"key": "k"}},
        headers=headers,
    ).get_json()
    old_sent = send_message("pager", {"group": "g"}, {"text": "old"})
    deliver_due(now=T0)
    # queued after the run: still open when it is old
    queued = client.post(
        f"/api/v1/messaging/channels/{made['id']}/test", json={"text": "hello"}, headers=headers
    )
    assert queued.status_code == 202 and queued.get_json()["status"] == "queued"
    old_open = queued.get_json()["id"]
    aged = utcnow() - dt.timedelta(days=181)
    MessageDelivery.update(created_at=aged).where(MessageDelivery.id.in_([old_sent, old_open])).execute()
    result = run_cli(client.application, "jobs", "run", "core:retention")
    assert result.exit_code == 0 and "'message_deliveries': 1" in result.output, result.output
    assert {d.id for d in MessageDelivery.select()} == {old_open}
    assert not MessageAttempt.select().where(MessageAttempt.delivery == old_sent).exists()


def test_send_message_if_configured_logs_instead_of_failing_the_work(client, admin_headers, caplog):
    from crm_core.entities.models import Customer
    from crm_core.messaging import send_message_if_configured

    message = {"kind": "text", "text": "Your trial is tomorrow"}
    with database.atomic():
        customer = Customer.create(name="Quiet")
        assert send_message_if_configured("", {"customer_id": customer.id}, message) is None
        # an unknown channel is the core refusing to queue: logged, and the caller's transaction
        # (a savepoint took the refusal) goes on to write
        assert send_message_if_configured("nowhere", {"customer_id": customer.id}, message) is None
        customer.name = "Quiet, still written"
        customer.save()
    assert Customer.get_by_id(customer.id).name == "Quiet, still written"
    assert MessageDelivery.select().count() == 0
    logged = [r.getMessage() for r in caplog.records if "Your trial is tomorrow" in r.getMessage()]
    assert len(logged) == 2 and "no message channel" in logged[0] and "nowhere" in logged[1]
