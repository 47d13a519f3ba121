"""The loyalty panel on the web workbench's customer 360 page."""

from __future__ import annotations

import re

from crm_core.testing import TEST_PASSWORD


def web_login(client, username):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    r = client.post(
        "/login", data={"username": username, "password": TEST_PASSWORD, "csrf_token": token.group(1)}
    )
    assert r.status_code == 302


def test_customer_page_shows_tier_points_and_progress(client, program, purchase, make_user):
    headers = program()
    make_user("boss")
    customer = client.post("/api/v1/customers", json={"name": "Li Na"}, headers=headers).get_json()["id"]
    other = client.post("/api/v1/customers", json={"name": "Wang Wu"}, headers=headers).get_json()["id"]
    assert purchase(customer, "o-1", "1200.00").status_code == 201
    web_login(client, "boss")

    html = client.get(f"/records/customers/{customer}").get_data(as_text=True)
    assert 'data-loyalty="balance">1200<' in html
    assert "Gold" in html and "Next tier: Platinum, 3,800 more (Spend amount)." in html
    assert "Not a loyalty member." in client.get(f"/records/customers/{other}").get_data(as_text=True)
