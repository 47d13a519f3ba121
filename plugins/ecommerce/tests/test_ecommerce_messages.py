"""The recall text and the parcel apology go out through the core's messaging (send_message) on
ECOMMERCE_MESSAGE_CHANNEL: marketing for a recall, service for an apology, once each."""

from __future__ import annotations

import pytest
from ecommerce_testlib import generic_order, make_shop, post_webhook, run_inbox
from test_ecommerce_recall import R, _cart, _customer, _run
from test_ecommerce_shipments import _point, _track

from crm_core import hookimpl
from crm_core.plugin_api import MessageChannel, SendResult, delivery_status
from crm_core.testing import run_cli


class Texter:
    """A message channel of a throwaway plugin: what it was asked to send."""

    def __init__(self):
        self.sent = []

    def send(self, recipient, message):
        self.sent.append((recipient.get("customer_id"), message["text"]))
        return SendResult(True, "ok")

    @hookimpl
    def crm_message_channels(self):
        return [MessageChannel(name="shop-text", kinds=("text",), send=self.send)]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "ECOMMERCE_MESSAGE_CHANNEL": "shop-text"}


@pytest.fixture
def texting(register_plugin, admin_headers):
    texter = Texter()
    application = register_plugin(texter, "texter")
    with application.app_context():
        yield application, application.test_client(), texter


def _events(client, headers, kind):
    events = client.get("/api/v1/events", query_string={"page_size": 100}, headers=headers).get_json()
    return [e["data"] for e in events if e["type"] == kind]


def test_recall_and_apology_are_sent_through_the_messaging_core(texting, admin_headers):
    app, client, texter = texting
    flow = {"name": "Cart recall", "triggers": ["cart.updated"], "delay_minutes": 5, "message": "Come back!"}
    assert client.post(f"{R}/flows", json=flow, headers=admin_headers).status_code == 201
    keen = _customer(client, admin_headers, "keen")
    _cart(keen)
    _run(app, 6)
    _run(app, 7)  # again: the run is done, nothing queued twice
    [sent] = _events(client, admin_headers, "recall.sent")
    recall = delivery_status(sent["delivery_id"])
    assert (recall["purpose"], recall["customer_id"], recall["channel"]) == ("marketing", keen, "shop-text")

    shop = make_shop(client, admin_headers)
    post_webhook(client, shop, generic_order())
    _track(client, shop, [_point("2026-11-02T08:00:00Z", "AttemptFail", "nobody home")])
    run_inbox(app)
    [stuck] = _events(client, admin_headers, "shipment.stuck")
    apology = delivery_status(stuck["delivery_id"])
    assert (apology["purpose"], apology["customer_id"]) == ("service", stuck["customer_id"])
    assert run_cli(app, "jobs", "run", "core.messaging:send").exit_code == 0
    assert sorted(texter.sent) == sorted([(keen, "Come back!"), (stuck["customer_id"], stuck["message"])])
