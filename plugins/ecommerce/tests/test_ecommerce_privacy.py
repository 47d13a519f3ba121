"""Privacy export and erasure reach what the e-commerce plugin stores about a customer."""

from __future__ import annotations

from ecommerce_testlib import C, E, apply_order, issue, make_shop, make_template, redeem
from test_ecommerce_flash import make_sale, reserve


def test_export_and_erase_include_orders_identities_and_coupons(client, admin_headers):
    shop = make_shop(client, admin_headers)
    order = apply_order(client, admin_headers, shop)
    customer = order["customer_id"]
    [code] = issue(
        client, admin_headers, make_template(client, admin_headers), customer_id=customer
    ).get_json()
    assert redeem(client, admin_headers, code["code"], order["id"]).status_code == 201
    [unused] = issue(
        client, admin_headers, make_template(client, admin_headers), customer_id=customer
    ).get_json()
    sale = make_sale(client, admin_headers)
    assert reserve(client, admin_headers, sale, customer, 1).status_code == 201
    client.post(f"{E}/portraits/customers/{customer}/refresh", headers=admin_headers)

    r = client.get(f"/api/v1/customers/{customer}/privacy-export", headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    mine = r.get_json()["plugins"]["ecommerce"]
    assert [o["number"] for o in mine["orders"]] == ["#1001"]
    assert [line["sku"] for line in mine["orders"][0]["lines"]] == ["TEA-1", "CUP-1"]
    assert mine["platform_identities"] == [{"shop_id": shop["id"], "external_id": "c-1"}]
    assert sorted(c["code"] for c in mine["coupon_codes"]) == sorted([code["code"], unused["code"]])
    assert [h["quantity"] for h in mine["flash_reservations"]] == [1]
    assert mine["portrait"]["orders"] == 1 and mine["portrait"]["spent"] == "210.00"

    assert client.post(f"/api/v1/customers/{customer}/erase", headers=admin_headers).status_code == 200
    export = client.get(f"/api/v1/customers/{customer}/privacy-export", headers=admin_headers).get_json()
    assert "ecommerce" not in export["plugins"]
    assert client.get(f"{E}/flash-sales/{sale['id']}", headers=admin_headers).get_json()["reserved"] == 0
    kept = client.get(f"{E}/orders/{order['id']}", headers=admin_headers).get_json()
    assert kept["customer_id"] is None and kept["total"] == "210.00"  # the accounts keep the order
    codes = client.get(f"{C}/codes", headers=admin_headers).get_json()
    assert [(c["code"], c["customer_id"], c["active"]) for c in codes] == [(code["code"], None, False)]
