"""crm-core + crm-ecommerce installed alone in a fresh virtualenv: a shop takes a signed webhook,
the inbox job applies it, a coupon is redeemed on the order, and the customer page shows it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crm_core.testing import install

PLUGIN = Path(__file__).resolve().parents[1]
CORE = PLUGIN.parents[1]

LOGIN = """
import base64, hashlib, hmac, json, re
from crm_core.app import create_app

app = create_app()
c = app.test_client()
token = c.post("/api/v1/auth/token", json={"username": "root", "password": "Smoke-Passw0rd!"}).get_json()
h = {"Authorization": "Bearer " + token["access_token"]}
E = "/api/v1/ecommerce"
"""

RECEIVE = textwrap.dedent(
    LOGIN
    + """
shop = c.post(E + "/shops", json={"name": "Smoke", "platform": "shopify", "webhook_secret": "smoke-secret-0123456789"}, headers=h).get_json()
order = {"id": 1, "name": "#1", "email": "smoke@example.com", "currency": "CNY", "financial_status": "paid",
         "total_price": "99.00", "subtotal_price": "99.00", "created_at": "2026-11-01T00:00:00Z",
         "updated_at": "2026-11-01T00:00:00Z",
         "line_items": [{"id": 1, "sku": "S", "title": "Smoke", "quantity": 1, "price": "99.00"}]}
raw = json.dumps(order).encode()
sig = base64.b64encode(hmac.new(b"smoke-secret-0123456789", raw, hashlib.sha256).digest()).decode()
r = c.post(E + "/webhooks/" + shop["key"], data=raw, headers={"X-Shopify-Hmac-Sha256": sig, "X-Shopify-Event-Id": "e1"})
assert r.get_json() == {"status": "queued"}, r.get_json()
assert c.get(E + "/orders", headers=h).get_json() == []
print("queued")
"""
)

CHECK = textwrap.dedent(
    LOGIN
    + """
[order] = c.get(E + "/orders", headers=h).get_json()
t = c.post(E + "/coupons/templates", json={"name": "10 off", "kind": "amount_off", "value": "10", "currency": "CNY"}, headers=h).get_json()
[code] = c.post(E + "/coupons/templates/%d/issue" % t["id"], json={}, headers=h).get_json()
r = c.post(E + "/coupons/redeem", json={"code": code["code"], "order_id": order["id"]}, headers=h)
assert r.status_code == 201, r.get_json()
page_token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
login = {"username": "root", "password": "Smoke-Passw0rd!", "csrf_token": page_token}
assert c.post("/login", data=login).status_code == 302
page = c.get("/records/customers/%d" % order["customer_id"], headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
assert "累计消费" in page and "已付款" in page, page[-2000:]
print(json.dumps({"status": order["status"], "total": order["total"], "discount": r.get_json()["amount"]}))
"""
)


@pytest.mark.slow
def test_core_and_ecommerce_installed_alone(tmp_path):
    env = install(tmp_path, CORE, PLUGIN, env={"CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}"})
    assert env.distributions() == ["crm-core", "crm-ecommerce"]  # no other plugin came along
    crm = env.crm

    assert "ecommerce" in crm("migrate")
    assert "database is up to date" in crm("migrate")
    plugins = crm("plugins")
    assert "ecommerce" in plugins and "loyalty" not in plugins and "failed" not in plugins
    crm("create-user", "root", "--password", "Smoke-Passw0rd!", "--role", "admin")
    assert env.python(RECEIVE).strip().splitlines()[-1] == "queued"
    assert "success" in crm("jobs", "run", "ecommerce:inbox")
    out = env.python(CHECK)
    assert out.strip().splitlines()[-1] == '{"status": "paid", "total": "99.00", "discount": "10.00"}'
