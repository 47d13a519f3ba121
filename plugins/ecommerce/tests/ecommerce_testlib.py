"""Helpers of the e-commerce tests (a unique module name: several plugins' tests share a session)."""

from __future__ import annotations

import json

from crm_core.testing import conforms_to_openapi, run_cli

E = "/api/v1/ecommerce"
SECRET = "shpss_0123456789abcdef0123"
OTHER_SECRET = "shpss_fedcba9876543210fedc"


def make_shop(client, headers, platform="generic", secret=SECRET, **extra):
    """A shop through the API; its JSON."""
    body = {"name": f"{platform} shop", "platform": platform, "webhook_secret": secret, **extra}
    r = client.post(f"{E}/shops", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def generic_order(external_id="1001", updated_at="2026-11-01T10:00:00Z", status="paid", **extra):
    """A canonical (generic platform) order payload."""
    body = {
        "external_id": external_id,
        "number": f"#{external_id}",
        "status": status,
        "currency": "CNY",
        "subtotal": "200.00",
        "shipping": "10.00",
        "total": "210.00",
        "placed_at": "2026-11-01T09:00:00Z",
        "updated_at": updated_at,
        "customer": {
            "external_id": "c-1",
            "email": "Li.Na@example.com",
            "phone": "13800138000",
            "name": "李娜",
        },
        "lines": [
            {"external_id": "l1", "sku": "TEA-1", "name": "Green tea", "quantity": 2, "unit_price": "50.00"},
            {
                "external_id": "l2",
                "sku": "CUP-1",
                "name": "Cup",
                "quantity": 1,
                "unit_price": "100.00",
                "category": "ware",
            },
        ],
    }
    body.update(extra)
    return body


def post_webhook(client, shop, body, headers=None, platform=None, secret=SECRET):
    """POST ``body`` (dict or bytes) to the shop's webhook, signed as its platform signs."""
    from crm_ecommerce.signatures import HEADERS, signature

    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    platform = platform or shop["platform"]
    signed = {HEADERS[platform]: signature(platform, secret, raw), "Content-Type": "application/json"}
    signed.update(headers or {})
    return client.post(f"{E}/webhooks/{shop['key']}", data=raw, headers=signed)


def run_inbox(app):
    """Run the inbox job as the scheduler would; its printed result."""
    result = run_cli(app, "jobs", "run", "ecommerce:inbox")
    assert result.exit_code == 0, result.output
    return result.output


def orders(client, headers, **args):
    """The order list's JSON."""
    r = client.get(f"{E}/orders", query_string=args, headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


C = f"{E}/coupons"


def make_template(client, headers, **fields):
    """A coupon template through the API; its JSON."""
    body = {"name": "20 off", "kind": "amount_off", "value": "20", **fields}
    r = client.post(f"{C}/templates", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def issue(client, headers, template, **body):
    """Issue codes of ``template``; the response."""
    return client.post(f"{C}/templates/{template['id']}/issue", json=body, headers=headers)


def apply_order(client, headers, shop, external_id="1001", **fields):
    """An order applied through ``POST /orders/apply``; its JSON."""
    body = generic_order(external_id=external_id, **fields)
    body["source_updated_at"] = body.pop("updated_at")
    r = client.post(f"{E}/orders/apply", json={"shop_id": shop["id"], **body}, headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def redeem(client, headers, code, order_id):
    """Redeem ``code`` on ``order_id``; the response."""
    return client.post(f"{C}/redeem", json={"code": code, "order_id": order_id}, headers=headers)


def conforms(client, path: str, response, method: str = "get") -> dict:
    """The JSON of ``response`` (a 200), valid against the 200 schema the API declares for
    ``method`` ``path`` (``crm_core.testing.conforms_to_openapi``)."""
    return conforms_to_openapi(client, path, response, method)
