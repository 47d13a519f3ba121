"""The workbench screens in English and Chinese, within the viewer's row scope."""

from __future__ import annotations

import pytest
from ecommerce_testlib import apply_order, issue, make_shop, make_template, redeem
from test_ecommerce_flash import customer, make_sale, reserve
from test_ecommerce_portraits import rule, settle

from crm_core.browser_testing import web_login

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def seeded(client, admin_headers):
    north = client.post("/api/v1/departments", json={"name": "North"}, headers=admin_headers).get_json()["id"]
    shop = make_shop(client, admin_headers, name="North shop", department_id=north)
    other = make_shop(client, admin_headers, name="South shop")
    order = apply_order(client, admin_headers, shop, "N-1")
    apply_order(client, admin_headers, other, "S-1", customer={"email": "south@example.com"})
    template = make_template(
        client, admin_headers, name="Spring 20", kind="threshold", value="20", threshold="100"
    )
    [code] = issue(client, admin_headers, template).get_json()
    assert redeem(client, admin_headers, code["code"], order["id"]).status_code == 201
    client.post(
        "/api/v1/ecommerce/recall/flows",
        json={"name": "Cart recall", "triggers": ["cart.updated"]},
        headers=admin_headers,
    )
    return {"north": north, "order": order}


def test_screens_in_english_and_chinese(client, make_user, seeded):
    make_user("boss")
    assert web_login(client, "boss").status_code == 302
    assert client.get("/ecommerce/").headers["Location"].endswith("/ecommerce/orders")
    orders = client.get("/ecommerce/orders").get_data(as_text=True)
    assert 'data-order="N-1"' in orders and 'data-order="S-1"' in orders and "Paid" in orders
    detail = client.get(f"/ecommerce/orders/{seeded['order']['id']}").get_data(as_text=True)
    assert "TEA-1" in detail and "Status history" in detail and 'data-ecommerce="coupon"' in detail
    coupons = client.get("/ecommerce/coupons").get_data(as_text=True)
    assert "Spring 20" in coupons and 'data-ecommerce="redeemed">1<' in coupons
    assert "Cart recall" in client.get("/ecommerce/recall").get_data(as_text=True)
    assert client.get("/ecommerce/shipments").status_code == 200
    zh = client.get("/ecommerce/orders", headers=ZH).get_data(as_text=True)
    assert "已付款" in zh and "订单" in zh and "召回流程" in zh
    assert "满减" in client.get("/ecommerce/coupons", headers=ZH).get_data(as_text=True)
    filtered = client.get("/ecommerce/orders", query_string={"status": "cancelled"}).get_data(as_text=True)
    assert "data-order=" not in filtered


def test_a_department_sees_its_shops_orders_only(client, make_user, seeded):
    make_user("north_clerk", roles=("service",), department_id=seeded["north"])
    assert web_login(client, "north_clerk").status_code == 302
    page = client.get("/ecommerce/orders").get_data(as_text=True)
    assert 'data-order="N-1"' in page and 'data-order="S-1"' not in page
    south = client.get("/api/v1/ecommerce/orders", headers={}).status_code  # the API needs a token
    assert south == 401


def test_flash_sale_and_portrait_screens(app, client, admin_headers, make_user):
    shop = make_shop(client, admin_headers)
    buyer = customer(client, admin_headers)
    sale = make_sale(client, admin_headers, name="Tea rush", stock=5, hold_minutes=7)
    rule(client, admin_headers, "复购", ("order_count", ">=", 2))
    for n in ("1", "2"):
        apply_order(client, admin_headers, shop, f"P-{n}", customer={"email": "li.na@example.com"})
    settle(app)
    reserve(client, admin_headers, sale, buyer, 2)
    make_user("boss")
    assert web_login(client, "boss").status_code == 302
    page = client.get("/ecommerce/flash-sales").get_data(as_text=True)
    assert "Tea rush" in page and 'data-ecommerce="reserved">2<' in page and "7 minutes" in page
    assert 'data-ecommerce="available"><strong>3<' in page
    zh = client.get("/ecommerce/flash-sales", headers=ZH).get_data(as_text=True)
    assert "限时抢购" in zh and "已预留" in zh and "进行中" in zh
    portraits = client.get("/ecommerce/portraits").get_data(as_text=True)
    assert "Order count" not in portraits and "Orders ≥ 2" in portraits
    assert 'data-ecommerce="tagged">1<' in portraits and 'data-ecommerce="rfm">' in portraits
    zh = client.get("/ecommerce/portraits", headers=ZH).get_data(as_text=True)
    assert "用户画像" in zh and "标签规则" in zh and "复购" in zh
