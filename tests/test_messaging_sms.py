"""The Aliyun and Tencent Cloud SMS adapters against the local fake (tests/fake_im.py), which
verifies ACS3-HMAC-SHA256 and TC3-HMAC-SHA256 signatures and the clock windows: template
mapping, per-number caps under the providers' limits, no blind resend after a timeout (the
status is queried first), the 5-minute clock rule, and STOP/退订 opt-outs."""

import datetime as dt

import pytest
from fake_im import FakeIM

from crm_core.db import utcnow
from crm_core.messaging import deliver_due, delivery_status, record_reply, send_message, sender
from crm_core.messaging.sms import acs3_headers, is_stop_reply, tc3_authorization
from crm_core.privacy.consent import record_consent

#: the injected clock: hours ahead of the real one, so a message queued at real time is due at T0
#: however late in a long run (modules are imported when the run starts) the test comes
T0 = utcnow().replace(microsecond=0) + dt.timedelta(hours=6)
PHONE = "+8613800138000"


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
    fake.__init__()
    fake.now = T0
    return fake


def run(im, at):
    im.now = at
    return deliver_due(now=at)


def configure(client, headers, im, **extra):
    aliyun = {
        "name": "sms-ali",
        "kind": "sms_aliyun",
        "secrets": {
            "access_key_id": im.aliyun["key_id"],
            "access_key_secret": im.aliyun["secret"],
            "callback_token": "cb-ali",
        },
        "settings": {
            "sign_name": "示例商城",
            "templates": {
                "code": {"code": "SMS_100001", "params": ["code"]},
                "promo": {"code": "SMS_100002", "params": ["name"]},
            },
            **extra,
        },
    }
    tencent = {
        "name": "sms-tc",
        "kind": "sms_tencent",
        "secrets": {
            "secret_id": im.tencent["key_id"],
            "secret_key": im.tencent["secret"],
            "callback_token": "cb-tc",
        },
        "settings": {
            "sign_name": "示例商城",
            "sdk_app_id": "1400000001",
            "templates": {"remind": {"id": "1234", "params": ["name", "time"]}},
        },
    }
    for data in (aliyun, tencent):
        response = client.post("/api/v1/messaging/channels", json=data, headers=headers)
        assert response.status_code == 201, response.get_json()


def test_aliyun_named_params_and_the_per_number_caps(client, admin_headers, im):
    configure(client, admin_headers, im, caps=[[1, 60], [2, 3600]])
    ids = [
        send_message(
            "sms-ali",
            {"phone": "138 0013 8000"},
            {"kind": "template", "template": "code", "variables": {"code": str(1000 + i)}},
        )
        for i in range(3)
    ]
    run(im, T0)
    assert len(im.aliyun["sends"]) == 1
    sent = im.aliyun["sends"][0]
    assert sent["PhoneNumbers"] == "13800138000" and sent["SignName"] == "示例商城"
    assert sent["TemplateCode"] == "SMS_100001" and sent["TemplateParam"] == '{"code": "1000"}'
    assert sent["OutId"] == f"msg-{ids[0]}"
    assert delivery_status(ids[0])["provider_ref"] == "biz1"
    # 1 a minute: the next waits a minute, and never meets isv.BUSINESS_LIMIT_CONTROL
    assert delivery_status(ids[1])["next_attempt_at"] == T0 + dt.timedelta(seconds=60)
    run(im, T0 + dt.timedelta(seconds=60))
    assert len(im.aliyun["sends"]) == 2
    # 2 an hour: the third waits for the first to leave the hour
    assert delivery_status(ids[2])["next_attempt_at"] == T0 + dt.timedelta(seconds=3600)
    assert ("aliyun", "isv.BUSINESS_LIMIT_CONTROL") not in im.log


def test_sms_refuses_what_it_cannot_send(client, admin_headers, im):
    configure(client, admin_headers, im)
    cases = [
        ({"phone": PHONE}, {"kind": "text", "text": "hi"}, "message.kind"),
        ({"phone": PHONE}, {"kind": "template", "template": "nope"}, "message"),
        ({"phone": PHONE}, {"kind": "template", "template": "code", "variables": {}}, "message"),
        ({"phone": "12"}, {"kind": "template", "template": "code", "variables": {"code": "1"}}, "to"),
    ]
    for to, message, field in cases:
        response = client.post(
            "/api/v1/messaging/messages",
            json={"channel": "sms-ali", "to": to, "message": message},
            headers=admin_headers,
        )
        assert response.status_code == 422 and field in response.get_json()["errors"], response.get_json()


def test_a_timed_out_send_is_looked_up_not_sent_twice(client, admin_headers, im):
    configure(client, admin_headers, im)
    ali = send_message(
        "sms-ali", {"phone": PHONE}, {"kind": "template", "template": "code", "variables": {"code": "1"}}
    )
    im.cut_next = 1
    run(im, T0)
    status = delivery_status(ali)
    assert status["status"] == "retrying" and status["last_code"] == "timeout"
    assert len(im.aliyun["sends"]) == 1  # it did arrive
    run(im, T0 + dt.timedelta(seconds=61))  # after the backoff and the number's minute
    assert delivery_status(ali)["status"] == "sent" and len(im.aliyun["sends"]) == 1
    assert [p for p, _ in im.log] == ["aliyun", "aliyun"]  # SendSms, then QuerySendDetails only
    tc = send_message(
        "sms-tc",
        {"phone": PHONE},
        {"kind": "template", "template": "remind", "variables": {"name": "王", "time": "9:00"}},
    )
    im.cut_next = 1
    run(im, T0 + dt.timedelta(hours=1))
    run(im, T0 + dt.timedelta(hours=1, seconds=61))
    assert delivery_status(tc)["status"] == "sent" and len(im.tencent["sends"]) == 1
    sent = im.tencent["sends"][0]
    assert sent["TemplateParamSet"] == ["王", "9:00"] and sent["PhoneNumberSet"] == [PHONE]
    assert sent["SessionContext"] == f"msg-{tc}" and sent["SmsSdkAppId"] == "1400000001"


def test_tencent_refuses_a_clock_more_than_five_minutes_off(client, admin_headers, im):
    configure(client, admin_headers, im)
    late = send_message(
        "sms-tc",
        {"phone": PHONE},
        {"kind": "template", "template": "remind", "variables": {"name": "a", "time": "b"}},
    )
    im.now = T0 + dt.timedelta(minutes=6)
    deliver_due(now=T0)
    status = delivery_status(late)
    assert status["status"] == "failed" and status["last_code"] == "AuthFailure.SignatureExpire"
    assert status["attempts"] == 1 and im.tencent["sends"] == []
    ok = send_message(
        "sms-tc",
        {"phone": PHONE},
        {"kind": "template", "template": "remind", "variables": {"name": "a", "time": "b"}},
    )
    im.now = T0 + dt.timedelta(minutes=4)
    deliver_due(now=T0)
    assert delivery_status(ok)["status"] == "sent"


def test_tc3_signature_matches_tencents_documented_example():
    """The worked example of Tencent Cloud's signature v3 documentation (CVM DescribeInstances,
    with the documentation's masked credentials taken literally, as its published signature is)."""
    payload = '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    authorization = tc3_authorization(
        "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
        "Gu5t9xGARNpq86cd98joQYCN3*******",
        "cvm.tencentcloudapi.com",
        "cvm",
        payload,
        1551113065,
    )
    assert authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


def test_acs3_signature_matches_aliyuns_documented_example():
    """The worked example of Alibaba Cloud's V3 request signature documentation (ECS RunInstances)."""
    headers = acs3_headers(
        "YourAccessKeyId",
        "YourAccessKeySecret",
        "ecs.cn-shanghai.aliyuncs.com",
        "RunInstances",
        {"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"},
        dt.datetime(2023, 10, 26, 10, 22, 32),
        "3156853299f313e23d1673dc12e1703d",
        version="2014-05-26",
    )
    assert headers["Authorization"] == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;"
        "x-acs-date;x-acs-signature-nonce;x-acs-version,"
        "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )


def test_marketing_needs_consent_and_a_stop_reply_opts_out(client, admin_headers, im, make_user):
    configure(client, admin_headers, im)
    customer = client.post(
        "/api/v1/customers", json={"name": "李雷", "phone": PHONE}, headers=admin_headers
    ).get_json()
    promo = {"kind": "template", "template": "promo", "variables": {"name": "李雷"}}
    refused = send_message("sms-ali", {"customer_id": customer["id"]}, promo, purpose="marketing")
    assert (
        delivery_status(refused)["status"] == "refused"
        and delivery_status(refused)["last_code"] == "no_consent"
    )
    from crm_core.entities.models import Customer  # after the API created the row

    record_consent(Customer.get_by_id(customer["id"]), None, "marketing", "given")
    queued = send_message("sms-ali", {"customer_id": customer["id"]}, promo, purpose="marketing")
    assert delivery_status(queued)["status"] == "queued"
    assert is_stop_reply("退订") and is_stop_reply(" TD ") and not is_stop_reply("谢谢")
    assert record_reply("13800138000", "退订") is True
    run(im, T0)
    assert (
        delivery_status(queued)["status"] == "refused" and delivery_status(queued)["last_code"] == "opted_out"
    )
    assert im.aliyun["sends"] == []
    # a service message (a verification code) still goes
    service = send_message(
        "sms-ali",
        {"customer_id": customer["id"]},
        {"kind": "template", "template": "code", "variables": {"code": "9"}},
    )
    run(im, T0 + dt.timedelta(seconds=1))
    assert delivery_status(service)["status"] == "sent"
    export = client.get(
        f"/api/v1/customers/{customer['id']}/privacy-export", headers=admin_headers
    ).get_json()
    assert "message_opt_outs" in str(export)


def test_reply_callbacks_opt_numbers_out(client, admin_headers, im):
    configure(client, admin_headers, im)
    push = [
        {
            "phone_number": "13800138000",
            "content": "TD",
            "send_time": "2026-01-05 09:00:00",
            "sign_name": "示例商城",
        }
    ]
    assert client.post("/api/v1/messaging/sms/sms-ali/replies?token=wrong", json=push).status_code == 404
    assert client.post("/api/v1/messaging/sms/nope/replies?token=cb-ali", json=push).status_code == 404
    answer = client.post("/api/v1/messaging/sms/sms-ali/replies?token=cb-ali", json=push)
    assert answer.status_code == 200 and answer.get_json() == {"code": 0, "msg": "成功"}
    tencent = {
        "extend": "",
        "mobile": "13900139000",
        "nationcode": "86",
        "sign": "示例商城",
        "text": "退订",
        "time": 1,
    }
    answer = client.post("/api/v1/messaging/sms/sms-tc/replies?token=cb-tc", json=tencent)
    assert answer.status_code == 200 and answer.get_json() == {"result": 0, "errmsg": "OK"}
    from crm_core.entities.models import Customer  # rows the API created

    promo = {"kind": "template", "template": "promo", "variables": {"name": "x"}}
    outcomes = []
    for phone in (PHONE, "+8613900139000", "+8613700137000"):
        made = client.post(
            "/api/v1/customers", json={"name": phone, "phone": phone}, headers=admin_headers
        ).get_json()
        record_consent(Customer.get_by_id(made["id"]), None, "marketing", "given")
        delivery = send_message("sms-ali", {"customer_id": made["id"]}, promo, purpose="marketing")
        outcomes.append(delivery_status(delivery)["last_code"] or delivery_status(delivery)["status"])
    assert outcomes == ["opted_out", "opted_out", "queued"]
    # a bare number is nobody whose consent we hold
    bare = send_message("sms-ali", {"phone": "+8613600136000"}, promo, purpose="marketing")
    assert delivery_status(bare)["last_code"] == "no_consent"


def test_a_sender_that_died_mid_send_is_looked_up_before_a_resend(client, admin_headers, im):
    configure(client, admin_headers, im)
    delivery = send_message(
        "sms-ali", {"phone": PHONE}, {"kind": "template", "template": "code", "variables": {"code": "5"}}
    )
    # a sender claims it, sends, and dies before writing the outcome
    (job,) = sender._claim(T0, 10, lease_seconds=60)
    message = {**job.delivery.message, "key": f"msg-{delivery}"}
    im.now = utcnow()  # called directly, the sender signs with the real clock
    assert job.channel.send(job.delivery.recipient, message).ok  # ... and the process dies here
    assert delivery_status(delivery)["status"] == "sending"
    run(im, T0 + dt.timedelta(seconds=30))  # the lease still holds: nobody touches it
    assert [p for p, _ in im.log] == ["aliyun"]
    run(im, T0 + dt.timedelta(minutes=2))
    assert delivery_status(delivery)["status"] == "sent" and len(im.aliyun["sends"]) == 1
    assert [p for p, _ in im.log] == ["aliyun", "aliyun"]  # SendSms, then QuerySendDetails only
