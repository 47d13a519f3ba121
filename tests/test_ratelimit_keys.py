"""A route with a rate-limit bucket of its own (``route_limit``): counted per the key it computes
from its URL (an inbound webhook per shop), not in the caller's per-IP budget, so one sender's
burst neither uses up nor is refused by everyone else's quota."""

from __future__ import annotations

import types

import pytest
from flask.views import MethodView

from crm_core import hookimpl
from crm_core.plugin_api import API_PREFIX, Blueprint, json_response, public, route_limit


@pytest.fixture
def app_config(app_config):
    return {**app_config, "RATELIMIT_DEFAULT": "4/minute", "RATELIMIT_ENDPOINT": "100/minute"}


def _plugin():
    blp = Blueprint("keyed", __name__, url_prefix=f"{API_PREFIX}/keyed")

    @blp.route("/hooks/<string:sender>")
    @public
    class Hook(MethodView):
        @route_limit(lambda: "3/minute", key=lambda sender: sender)
        def post(self, sender):
            return json_response({"sender": sender})

    @blp.route("/ping", methods=["POST"])
    @public
    def ping():
        return json_response({"ok": True})

    return types.SimpleNamespace(crm_blueprints=hookimpl(lambda: [blp]))


def test_a_route_counts_per_its_own_key_outside_the_ip_budget(register_plugin):
    app = register_plugin(_plugin(), name="keyed")
    client = app.test_client()
    ip = {"REMOTE_ADDR": "198.51.100.9"}

    def post(path):
        return client.post(f"{API_PREFIX}/keyed{path}", environ_base=ip)

    assert [post("/hooks/a").status_code for _ in range(3)] == [200] * 3
    refused = post("/hooks/a")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["code"] == 429
    # another key has a bucket of its own, from the same address
    assert [post("/hooks/b").status_code for _ in range(3)] == [200] * 3
    # seven keyed calls spent none of this IP's budget of 4 for the other routes...
    assert [post("/ping").status_code for _ in range(4)] == [200] * 4
    # ...which still applies to them
    assert post("/ping").status_code == 429
    # and the keyed route is not refused by the spent IP budget
    assert post("/hooks/c").status_code == 200
