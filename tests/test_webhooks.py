"""Outbound webhooks against a real local HTTP server (signatures verified with the
``standardwebhooks`` library), retries, backoff, failing subscriptions, masking; inbound webhooks."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm_core import hookimpl
from crm_core.auth.models import Role
from crm_core.db import database, utcnow
from crm_core.events import dispatch_pending, emit
from crm_core.events.models import OutboxEvent
from crm_core.permissions.models import FieldRule, Grant
from crm_core.webhooks import register_inbound
from crm_core.webhooks.models import WebhookDelivery
from crm_core.webhooks.outbound import deliver_due


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "WEBHOOK_ALLOW_PRIVATE_URLS": True,  # the receiver runs on 127.0.0.1
        "WEBHOOK_TIMEOUT_SECONDS": 1,
        "WEBHOOK_MAX_ATTEMPTS": 4,
        "WEBHOOK_RETRY_BASE_SECONDS": 30,
    }


class Receiver:
    """A local HTTP server that records requests and answers from a script of statuses
    (``"sleep"`` answers after the client's timeout)."""

    def __init__(self):
        self.requests = []
        self.script = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                action = receiver.script.pop(0) if receiver.script else 200
                if action == "sleep":
                    time.sleep(1.5)
                    action = 200
                self.send_response(action)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if action < 300 else b"nope")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _subscribe(client, headers, url, events=("customer.*",), **extra):
    r = client.post("/api/v1/webhooks", json={"url": url, "events": list(events), **extra}, headers=headers)
    assert r.status_code == 201, r.get_json()
    sub = r.get_json()
    secret = client.get(f"/api/v1/webhooks/{sub['id']}/secret", headers=headers).get_json()["secret"]
    return sub, secret


def _customer_created(customer_id=1, **fields):
    with database.atomic():
        return emit(
            "customer.created",
            {
                "resource": "customers",
                "id": customer_id,
                "object": {"id": customer_id, "name": "Ann", **fields},
            },
            resource="customers",
            record_id=customer_id,
        )


def _verify(secret, request):
    return Webhook(secret).verify(request["body"], request["headers"])


def test_subscription_api_validation_and_secret(client, admin_headers, receiver, app):
    sub, secret = _subscribe(client, admin_headers, receiver.url, events=["customer.*", "order.paid"])
    assert "secret" not in sub and sub["secret_hint"].startswith("whsec_")
    assert secret.startswith("whsec_") and sub["status"] == "active" and sub["active"] is True
    assert sub["events"] == ["customer.*", "order.paid"]
    cases = [
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
        ({"url": "not a url", "events": ["*"]}, "url"),
        ({"url": receiver.url, "events": []}, "events"),
        ({"url": receiver.url, "events": ["Customer Created"]}, "events"),
        ({"url": receiver.url, "events": ["*"], "secret": "plain"}, "secret"),
        ({"url": receiver.url, "events": ["*"], "status": "failing"}, "status"),
    ]
    for body, field in cases:
        r = client.post("/api/v1/webhooks", json=body, headers=admin_headers)
        assert r.status_code == 422, (body, r.get_json())
        assert field in json.dumps(r.get_json()), r.get_json()
    app.config["WEBHOOK_ALLOW_PRIVATE_URLS"] = False
    for url in [
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
    ]:
        r = client.post("/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=admin_headers)
        assert r.status_code == 422 and "private" in json.dumps(r.get_json()), url
    rotated = client.post(f"/api/v1/webhooks/{sub['id']}/rotate-secret", headers=admin_headers).get_json()[
        "secret"
    ]
    assert rotated != secret and rotated.startswith("whsec_")
    created = OutboxEvent.get(OutboxEvent.type == "webhook.created")
    assert "secret" not in created.data["object"]  # never in events or the audit image


def test_delivery_is_signed_per_standard_webhooks(client, admin_headers, receiver):
    sub, secret = _subscribe(client, admin_headers, receiver.url)
    event = _customer_created(5, email="ann@example.com")
    with database.atomic():
        emit("order.paid", {"order_id": 1, "customer_id": 5, "amount": "1.00"})  # not subscribed
    dispatch_pending()
    assert deliver_due() == 1
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    payload = _verify(secret, request)  # raises if the signature or timestamp is wrong
    assert request["headers"]["webhook-id"] == event.id
    assert payload["id"] == event.id and payload["type"] == "customer.created"
    assert payload["data"]["object"] == {"id": 5, "name": "Ann", "email": "ann@example.com"}
    assert payload["timestamp"].endswith("Z") and payload["version"] == 1
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(request["body"], request["headers"])
    r = client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=admin_headers)
    [delivery] = r.get_json()
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1
    assert delivery["attempt_log"][0]["status_code"] == 200 and delivery["attempt_log"][0]["succeeded"]
    assert deliver_due() == 0


def test_retries_on_500_and_timeout_with_exponential_backoff(client, admin_headers, receiver):
    sub, secret = _subscribe(client, admin_headers, receiver.url)
    receiver.script = [500, "sleep", 503, 200]
    event = _customer_created(1)
    dispatch_pending()
    now = utcnow()
    waits = []
    for attempt in range(1, 4):
        assert deliver_due(now=now) == 1
        delivery = WebhookDelivery.get()
        assert delivery.status == "retrying" and delivery.attempts == attempt
        wait = (delivery.next_attempt_at - now).total_seconds()
        waits.append(wait)
        nominal = 30 * 2 ** (attempt - 1)
        assert nominal * 0.8 <= wait <= nominal * 1.2 + 2, (attempt, wait)
        assert deliver_due(now=now) == 0  # not due before its backoff
        now = delivery.next_attempt_at
    assert deliver_due(now=now) == 1
    delivery = WebhookDelivery.get()
    assert delivery.status == "succeeded" and delivery.attempts == 4
    assert len(receiver.requests) == 4
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {event.id}
    for request in receiver.requests:
        _verify(secret, request)
    log = client.get(
        f"/api/v1/webhooks/{sub['id']}/deliveries/{delivery.id}", headers=admin_headers
    ).get_json()
    codes = [(a["status_code"], (a["error"] or "")[:7]) for a in log["attempt_log"]]
    assert codes == [(500, "HTTP 50"), (None, "timeout"), (503, "HTTP 50"), (200, "")]
    sub_now = client.get(f"/api/v1/webhooks/{sub['id']}", headers=admin_headers).get_json()
    assert sub_now["consecutive_failures"] == 0 and sub_now["last_success_at"]


def test_exhausted_retries_mark_subscription_failing_and_hold_new_events(client, admin_headers, receiver):
    sub, secret = _subscribe(client, admin_headers, receiver.url)
    receiver.script = [500] * 4
    _customer_created(1)
    dispatch_pending()
    now = utcnow()
    for _ in range(4):
        deliver_due(now=now)
        now = now + dt.timedelta(days=1)
    assert WebhookDelivery.get().status == "failed"
    r = client.get(f"/api/v1/webhooks/{sub['id']}", headers=admin_headers).get_json()
    assert r["status"] == "failing" and r["consecutive_failures"] == 4 and r["failing_since"]
    listed = client.get("/api/v1/webhooks?status=failing", headers=admin_headers)
    assert listed.status_code == 200 and [w["id"] for w in listed.get_json()] == [sub["id"]]
    assert client.get("/api/v1/webhooks?status=active", headers=admin_headers).get_json() == []
    failing = OutboxEvent.get(OutboxEvent.type == "webhook.failing")
    assert failing.resource == "webhooks"  # sent only to owners whose scope covers the subscription
    assert failing.data == {
        "subscription_id": sub["id"],
        "url": receiver.url,
        "failures": 4,
        "owner_id": sub["owner_id"],
        "department_id": sub["department_id"],
    }

    later = _customer_created(2)
    dispatch_pending()
    held = WebhookDelivery.get(WebhookDelivery.message_id == later.id)
    assert held.status == "held"
    assert deliver_due(now=now) == 0 and len(receiver.requests) == 4

    r = client.patch(f"/api/v1/webhooks/{sub['id']}", json={"status": "active"}, headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["status"] == "active"
    assert deliver_due() == 1
    assert WebhookDelivery.get_by_id(held.id).status == "succeeded"
    assert _verify(secret, receiver.requests[-1])["id"] == later.id


def test_manual_redelivery_keeps_webhook_id(client, admin_headers, receiver):
    sub, secret = _subscribe(client, admin_headers, receiver.url)
    event = _customer_created(1)
    dispatch_pending()
    deliver_due()
    first = WebhookDelivery.get()
    r = client.post(f"/api/v1/webhooks/{sub['id']}/deliveries/{first.id}/redeliver", headers=admin_headers)
    assert r.status_code == 202 and r.get_json()["redelivery_of"] == first.id
    assert deliver_due() == 1
    assert [q["headers"]["webhook-id"] for q in receiver.requests] == [event.id, event.id]
    _verify(secret, receiver.requests[-1])
    assert (
        client.post(
            f"/api/v1/webhooks/{sub['id']}/deliveries/99999/redeliver", headers=admin_headers
        ).status_code
        == 404
    )


def test_ping_reaches_only_that_subscription(client, admin_headers, receiver):
    sub, secret = _subscribe(client, admin_headers, receiver.url)
    _subscribe(client, admin_headers, receiver.url, events=["*"])
    r = client.post(f"/api/v1/webhooks/{sub['id']}/ping", headers=admin_headers)
    assert r.status_code == 202 and r.get_json()["event_type"] == "webhook.ping"
    assert deliver_due() == 1
    payload = _verify(secret, receiver.requests[0])
    assert payload["type"] == "webhook.ping" and payload["data"]["subscription_id"] == sub["id"]
    assert OutboxEvent.select().where(OutboxEvent.type == "webhook.ping").count() == 0


def test_gone_410_deactivates_subscription(client, admin_headers, receiver):
    sub, _ = _subscribe(client, admin_headers, receiver.url)
    receiver.script = [410]
    _customer_created(1)
    dispatch_pending()
    deliver_due()
    assert WebhookDelivery.get().status == "failed"
    assert client.get(f"/api/v1/webhooks/{sub['id']}", headers=admin_headers).get_json()["active"] is False
    _customer_created(2)
    dispatch_pending()
    assert WebhookDelivery.select().count() == 1  # inactive: nothing more queued


def test_payload_masked_by_owner_field_rules_and_scoped(client, make_user, receiver):
    role = Role.create(name="integrator", label="Integrator")
    for resource, action in [
        ("webhooks", "create"),
        ("webhooks", "read"),
        ("webhooks", "update"),
        ("customers", "read"),
    ]:
        Grant.create(role=role, resource=resource, action=action, scope="all")
    FieldRule.create(role=role, resource="customers", field="email", rule="hidden")
    FieldRule.create(role=role, resource="customers", field="vip_level", rule="hidden")  # a custom field
    _, headers = make_user("integrator_user", roles=("integrator",))
    sub, secret = _subscribe(client, headers, receiver.url, events=["customer.*", "deal.*"])
    with database.atomic():
        emit(
            "customer.updated",
            {
                "resource": "customers",
                "id": 3,
                "object": {
                    "id": 3,
                    "name": "Bo",
                    "email": "bo@x.cn",
                    "custom": {"vip_level": 3, "city": "SH"},
                },
                "changed": ["email", "name"],
                "previous": {"email": "old@x.cn", "name": "B"},
            },
            resource="customers",
            record_id=3,
        )
        emit(
            "deal.created", {"resource": "deals", "id": 1, "object": {"id": 1}}, resource="deals", record_id=1
        )
    dispatch_pending()
    deliver_due()
    [request] = receiver.requests  # no deals grant: the deal event is not sent at all
    data = _verify(secret, request)["data"]
    assert data["object"] == {"id": 3, "name": "Bo", "custom": {"city": "SH"}}
    assert data["changed"] == ["name"] and data["previous"] == {"name": "B"}
    _, other = make_user("sales_user", roles=("sales",))
    assert client.get(f"/api/v1/webhooks/{sub['id']}", headers=other).status_code in (403, 404)
    assert client.get("/api/v1/webhooks", headers=other).status_code == 403


class InboundPlugin:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" + "=="

    def __init__(self):
        self.received = []

    def handle(self, payload, message_id):
        if payload.get("type") == "bad":
            from crm_core.errors import APIError

            raise APIError(422, "Unsupported event.", errors={"type": ["Unknown."]})
        if payload.get("type") == "flaky" and not any(m == message_id for m, _ in self.received):
            self.received.append((message_id, None))
            raise ConnectionError("database of the shop is down")
        with database.atomic():
            emit("shop.order_synced", {"order_id": payload["order_id"]})
        self.received.append((message_id, payload))

    @hookimpl
    def crm_startup(self, app):
        register_inbound(app, "shop", secret=lambda: self.secret, handler=self.handle, tolerance=300)


def _signed(secret, msg_id, payload, when=None):
    body = json.dumps(payload)
    when = when or dt.datetime.now(dt.UTC)
    signature = Webhook(secret).sign(msg_id, when, body)
    return body, {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def test_inbound_webhook_verified_replay_window_and_idempotent(register_plugin):
    plugin = InboundPlugin()
    application = register_plugin(plugin, "shop")
    client = application.test_client()
    url = "/api/v1/webhooks/inbound/shop"
    with application.app_context():
        body, heads = _signed(plugin.secret, "msg_1", {"type": "order.created", "order_id": 7})
        r = client.post(url, data=body, headers=heads)
        assert r.status_code == 200 and r.get_json() == {"status": "processed", "id": "msg_1"}
        r = client.post(url, data=body, headers=heads)  # the sender retries
        assert r.status_code == 200 and r.get_json()["status"] == "duplicate"
        assert [m for m, _ in plugin.received] == ["msg_1"]
        assert OutboxEvent.select().where(OutboxEvent.type == "shop.order_synced").count() == 1

        tampered = dict(heads, **{"webhook-id": "msg_2"})
        assert client.post(url, data=body, headers=tampered).status_code == 401
        old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
        body2, heads2 = _signed(plugin.secret, "msg_3", {"type": "order.created", "order_id": 8}, when=old)
        r = client.post(url, data=body2, headers=heads2)
        assert r.status_code == 401 and "replay window" in r.get_json()["message"]
        assert client.post(url, data=body).status_code == 401
        body3, heads3 = _signed(plugin.secret, "msg_4", {"type": "x"})
        assert client.post("/api/v1/webhooks/inbound/nope", data=body3, headers=heads3).status_code == 404
        body4, heads4 = _signed(plugin.secret, "msg_5", {"type": "bad"})
        assert client.post(url, data=body4, headers=heads4).status_code == 422
        body5, heads5 = _signed(plugin.secret, "msg_6", {"type": "flaky", "order_id": 9})
        assert client.post(url, data=body5, headers=heads5).status_code == 503  # failed: not recorded
        r = client.post(url, data=body5, headers=heads5)  # so the retry is processed
        assert r.status_code == 200 and r.get_json()["status"] == "processed"
        assert OutboxEvent.select().where(OutboxEvent.type == "shop.order_synced").count() == 2
        body6, heads6 = _signed(plugin.secret, "msg_7", ["not", "an", "object"])
        assert client.post(url, data=body6, headers=heads6).status_code == 400


def test_webhooks_require_auth(client):
    assert client.get("/api/v1/webhooks").status_code == 401


def test_cli_deliver_and_prune_old_deliveries(client, admin_headers, receiver, app):
    from crm_core.cli import build_cli
    from crm_core.webhooks.hooks import prune_deliveries

    _subscribe(client, admin_headers, receiver.url)
    _customer_created(1)
    _customer_created(2)
    dispatch_pending()
    result = app.test_cli_runner().invoke(build_cli(), ["webhooks", "deliver"])
    assert result.exit_code == 0 and "attempted 2" in result.output
    assert len(receiver.requests) == 2
    old = utcnow() - dt.timedelta(days=31)
    first = WebhookDelivery.select().order_by(WebhookDelivery.id).first()
    WebhookDelivery.update(created_at=old).where(WebhookDelivery.id == first.id).execute()
    assert prune_deliveries() == 1
    assert WebhookDelivery.select().count() == 1


def test_record_events_outside_owner_row_scope_are_not_sent(client, make_user, receiver):
    from crm_core.auth.models import Department

    role = Role.create(name="own_integrator", label="Own integrator")
    for resource, action, scope in [
        ("webhooks", "create", "all"),
        ("webhooks", "read", "all"),
        ("webhooks", "update", "all"),
        ("customers", "read", "department_tree"),
    ]:
        Grant.create(role=role, resource=resource, action=action, scope=scope)
    top = Department.create(name="East", path="")
    top.path = f"/{top.id}/"
    top.save()
    sub_dept = Department.create(name="Shanghai", parent=top, path="")
    sub_dept.path = f"{top.path}{sub_dept.id}/"
    sub_dept.save()
    other = Department.create(name="West", path="")
    other.path = f"/{other.id}/"
    other.save()
    owner, headers = make_user("tree_owner", roles=("own_integrator",), department_id=top.id)
    sub, secret = _subscribe(client, headers, receiver.url, events=["customer.*"])
    cases = [
        (1, {"owner_id": 999, "department_id": top.id}, True),  # own department
        (2, {"owner_id": 999, "department_id": sub_dept.id}, True),  # below it
        (3, {"owner_id": 999, "department_id": other.id}, False),  # elsewhere
        (4, {"owner_id": owner.id, "department_id": other.id}, True),  # owned: always visible
        (5, {"owner_id": None, "department_id": None}, False),
    ]
    for customer_id, ownership, _ in cases:
        _customer_created(customer_id, **ownership)
    dispatch_pending()
    deliver_due()
    sent = sorted(_verify(secret, r)["data"]["id"] for r in receiver.requests)
    assert sent == [cid for cid, _, visible in cases if visible]


def test_write_path_to_webhook_end_to_end(client, admin_headers, receiver):
    sub, secret = _subscribe(client, admin_headers, receiver.url)
    r = client.post("/api/v1/customers", json={"name": "Mei", "tags": ["kol"]}, headers=admin_headers)
    assert r.status_code == 201
    customer = r.get_json()
    client.patch(f"/api/v1/customers/{customer['id']}", json={"name": "Mei Chen"}, headers=admin_headers)
    client.patch(
        f"/api/v1/customers/{customer['id']}", json={"name": "Mei Chen"}, headers=admin_headers
    )  # no-op
    client.delete(f"/api/v1/customers/{customer['id']}", headers=admin_headers)
    dispatch_pending()
    deliver_due()
    # sent in parallel: order by the event timestamp, as receivers should
    payloads = sorted((_verify(secret, r) for r in receiver.requests), key=lambda p: p["timestamp"])
    assert [p["type"] for p in payloads] == ["customer.created", "customer.updated", "customer.deleted"]
    created, updated, deleted = payloads
    assert created["data"]["object"]["name"] == "Mei" and created["data"]["object"]["tags"] == ["kol"]
    assert updated["data"]["changed"] == ["name"] and updated["data"]["previous"] == {"name": "Mei"}
    assert deleted["data"]["id"] == customer["id"]


def test_a_cleared_description_is_saved_empty_not_refused(client, admin_headers, receiver):
    """Clearing the description sent null, refused with "Field may not be null."."""
    sub, _ = _subscribe(client, admin_headers, receiver.url, events=["*"])
    r = client.patch(
        f"/api/v1/webhooks/{sub['id']}", json={"description": "CRM to ERP"}, headers=admin_headers
    )
    assert r.status_code == 200, r.get_json()
    r = client.patch(f"/api/v1/webhooks/{sub['id']}", json={"description": None}, headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["description"] == ""
    created = client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["*"], "description": None},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["description"] == ""
