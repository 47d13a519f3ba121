"""The e-commerce API's hand-written lists keep to the OpenAPI document: what
``tests/test_openapi_fuzz.py`` checks for the core, asserted here on real rows so the industry run
(every plugin enabled) catches an answer the document does not describe."""

from __future__ import annotations

from ecommerce_testlib import (
    C,
    E,
    apply_order,
    conforms,
    generic_order,
    issue,
    make_shop,
    make_template,
    post_webhook,
    redeem,
)

from crm_core.testing import deliver_events, run_cli


def test_inbox_identity_coupon_and_portrait_lists_keep_to_their_declared_schemas(app, client, admin_headers):
    a = client.post("/api/v1/customers", json={"name": "A", "email": "a@example.com"}, headers=admin_headers)
    b = client.post("/api/v1/customers", json={"name": "B", "phone": "+8613700137000"}, headers=admin_headers)
    assert a.status_code == b.status_code == 201
    shop = make_shop(client, admin_headers)
    received = post_webhook(client, shop, generic_order("w-1"))
    assert conforms(client, f"{E}/webhooks/{{shop_key}}", received, "post") == {"status": "queued"}
    rows = conforms(client, f"{E}/deliveries", client.get(f"{E}/deliveries", headers=admin_headers))
    assert [(r["shop_id"], r["status"]) for r in rows] == [(shop["id"], "pending")]

    buyer = {"email": "a@example.com", "phone": "13700137000"}
    order = apply_order(client, admin_headers, shop, "1", customer=buyer)
    [suggestion] = conforms(
        client, f"{E}/merge-suggestions", client.get(f"{E}/merge-suggestions", headers=admin_headers)
    )
    assert suggestion["status"] == "open"
    path = f"{E}/merge-suggestions/{{suggestion_id}}/dismiss"
    dismissed = client.post(f"{E}/merge-suggestions/{suggestion['id']}/dismiss", headers=admin_headers)
    assert conforms(client, path, dismissed, "post")["status"] == "dismissed"

    [code] = issue(client, admin_headers, make_template(client, admin_headers)).get_json()
    assert redeem(client, admin_headers, code["code"], order["id"]).status_code == 201
    codes = conforms(client, f"{C}/codes", client.get(f"{C}/codes", headers=admin_headers))
    assert [c["id"] for c in codes] == [code["id"]]
    [used] = conforms(client, f"{C}/redemptions", client.get(f"{C}/redemptions", headers=admin_headers))
    assert used["order_id"] == order["id"]

    deliver_events()  # the order's events mark its customer's portrait; the job computes it
    assert run_cli(app, "jobs", "run", "ecommerce:portraits").exit_code == 0
    profiles = conforms(
        client, f"{E}/portraits/customers", client.get(f"{E}/portraits/customers", headers=admin_headers)
    )
    assert order["customer_id"] in {p["customer_id"] for p in profiles}
    one = client.get(f"{E}/portraits/customers/{order['customer_id']}", headers=admin_headers)
    assert conforms(client, f"{E}/portraits/customers/{{customer_id}}", one)["orders"] == 1


def test_tracking_and_webhook_refusals_are_documented(client, admin_headers):
    document = client.get("/api/v1/openapi.json").get_json()
    for path in (f"{E}/tracking/{{shop_key}}", f"{E}/webhooks/{{shop_key}}"):
        declared = document["paths"][path]["post"]["responses"]
        assert {"400", "401", "404", "429"} <= set(declared), (path, sorted(declared))
    r = client.post(f"{E}/tracking/no-such-shop", data=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 404 and r.is_json
    shop = make_shop(client, admin_headers)
    assert post_webhook(client, shop, b"[1, 2]").status_code == 400
