"""The inbox's retention (processed deliveries purged after ECOMMERCE_INBOX_RETENTION_DAYS,
pending ones kept) and the webhook rate limit per shop, outside the per-IP budget."""

from __future__ import annotations

import datetime as dt

import pytest
from ecommerce_testlib import E, generic_order, make_shop, post_webhook, run_inbox

from crm_core.testing import run_cli


def _deliveries(client, headers):
    return client.get(f"{E}/deliveries", headers=headers).get_json()


def test_processed_deliveries_leave_the_inbox_after_their_days(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    for i in range(2):
        assert post_webhook(client, shop, generic_order(f"r{i}")).status_code == 200
    run_inbox(app)
    assert post_webhook(client, shop, generic_order("r-late")).status_code == 200  # still pending
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%S")
    status = run_cli(app, "retention", "status", "--at", at)
    assert "ecommerce_inbox" in status.output and "ECOMMERCE_INBOX_RETENTION_DAYS" in status.output
    early = run_cli(app, "retention", "run")  # nothing is 30 days old yet
    assert early.exit_code == 0 and len(_deliveries(client, admin_headers)) == 3
    result = run_cli(app, "retention", "run", "--at", at)
    assert result.exit_code == 0, result.output
    left = _deliveries(client, admin_headers)
    assert [d["status"] for d in left] == ["pending"]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "RATELIMIT_DEFAULT": "5/minute", "ECOMMERCE_WEBHOOK_RATELIMIT": "8/minute"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the limiter is the same on both
def test_a_shops_burst_is_limited_per_shop_not_by_the_ip_budget(app, client, admin_headers):
    shops = [make_shop(client, admin_headers), make_shop(client, admin_headers)]
    # eight deliveries of one shop from one address: more than that address's budget of five
    codes = [post_webhook(client, shops[0], generic_order(f"b{i}")).status_code for i in range(8)]
    assert codes == [200] * 8
    refused = post_webhook(client, shops[0], generic_order("b9"))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # the other shop's bucket is its own
    assert post_webhook(client, shops[1], generic_order("c1")).status_code == 200
