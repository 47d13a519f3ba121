"""Privacy export and erasure reach what the loyalty programme stores about a customer."""

from __future__ import annotations

from loyalty_testlib import L


def test_export_and_erase_include_loyalty(client, program, purchase):
    headers = program()
    customer = client.post("/api/v1/customers", json={"name": "Zhao Liu"}, headers=headers).get_json()["id"]
    purchase(customer, "o-1", "1500.00")
    client.post(f"{L}/members/{customer}/redeem", json={"points": 100, "reference": "r-1"}, headers=headers)

    r = client.get(f"/api/v1/customers/{customer}/privacy-export", headers=headers)
    assert r.status_code == 200, r.get_json()
    loyalty = r.get_json()["plugins"]["loyalty"]
    assert loyalty["member"]["customer_id"] == customer and loyalty["points"]["balance"] == 1400
    assert [e["kind"] for e in loyalty["ledger"]] == ["earn", "redeem"]
    assert [a["amount"] for a in loyalty["activities"] if a["kind"] == "purchase"] == ["1500.00"]
    assert [c["to_tier"] for c in loyalty["tier_changes"]] == ["silver", "gold"]

    assert client.post(f"/api/v1/customers/{customer}/erase", headers=headers).status_code == 200
    assert client.get(f"{L}/members/{customer}", headers=headers).status_code == 404
    export = client.get(f"/api/v1/customers/{customer}/privacy-export", headers=headers).get_json()
    assert "loyalty" not in export["plugins"]
