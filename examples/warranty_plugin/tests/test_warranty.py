"""The warranty plugin through the real app: the collection, the claim, the grants its migration
seeds, the daily job with its clock, the event, the automation action, the customer panel and the
privacy export."""

import datetime as dt

from crm_core.browser_testing import web_login
from crm_core.testing import deliver_events, run_cli

W = "/api/v1/warranty/warranties"


def _in(days: float) -> str:
    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def customer(api, headers, name="Wei Wang", **body):
    r = api.post("/api/v1/customers", json={"name": name, **body}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def warranty(api, headers, customer_id, serial="SN-1", days=365, **body):
    body = {
        "customer_id": customer_id,
        "product": "Kettle",
        "serial": serial,
        "expires_at": _in(days),
        **body,
    }
    r = api.post(W, json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_the_collection_and_a_claim(api, headers_of):
    _admin, headers = headers_of("ann")
    w = warranty(api, headers, customer(api, headers))
    assert w["status"] == "active"
    r = api.post(f"{W}/{w['id']}/claim", json={"reason": "does not boil"}, headers=headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "claimed" and r.get_json()["claim_reason"] == "does not boil"
    again = api.post(f"{W}/{w['id']}/claim", json={"reason": "still broken"}, headers=headers)
    assert again.status_code == 409
    assert api.post(f"{W}/{w['id']}/claim", json={}, headers=headers).status_code == 422
    audit = api.get(f"/api/v1/audit?resource=warranty.warranties&record_id={w['id']}", headers=headers)
    assert [e["action"] for e in audit.get_json()] == ["claim", "create"]
    events = [
        e for e in api.get("/api/v1/events", headers=headers).get_json() if e["type"].endswith(".claim")
    ]
    assert [e["type"] for e in events] == ["warranty.warranties.claim"], "one write, one event"


def test_an_expired_warranty_cannot_be_claimed(api, headers_of):
    _admin, headers = headers_of("ann")
    w = warranty(api, headers, customer(api, headers), days=-1)
    assert api.post(f"{W}/{w['id']}/claim", json={"reason": "late"}, headers=headers).status_code == 422


def test_built_in_roles_get_the_seeded_grants(api, headers_of):
    _admin, admin = headers_of("ann")
    seller, sales = headers_of("sam", roles=("sales",))
    _other, other_sales = headers_of("sue", roles=("sales",))
    _viewer, readonly = headers_of("rita", roles=("readonly",))
    cid = customer(api, admin, owner_id=seller.id)
    own = warranty(api, sales, cid, serial="SN-OWN")
    assert own["owner_id"] == seller.id
    assert api.get(W, headers=readonly).status_code == 200
    body = {"customer_id": cid, "product": "Kettle", "serial": "SN-RO", "expires_at": _in(30)}
    assert api.post(W, json=body, headers=readonly).status_code == 403
    # a claim needs the claim grant inside its scope: the other rep's grant is "own"
    assert api.post(f"{W}/{own['id']}/claim", json={"reason": "x"}, headers=other_sales).status_code in (
        403,
        404,
    )
    assert api.post(f"{W}/{own['id']}/claim", json={"reason": "x"}, headers=sales).status_code == 200
    assert api.post(f"{W}/{own['id']}/claim", json={"reason": "x"}, headers=readonly).status_code == 403


def test_the_daily_job_expires_as_of_its_clock_and_writes_as_the_job(warranty_app, api, headers_of):
    _admin, headers = headers_of("ann")
    w = warranty(api, headers, customer(api, headers), days=10)
    assert run_cli(warranty_app, "jobs", "run", "warranty:expire").exit_code == 0
    assert api.get(f"{W}/{w['id']}", headers=headers).get_json()["status"] == "active"
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=11)).strftime("%Y-%m-%dT%H:%M:%S")
    result = run_cli(warranty_app, "jobs", "run", "warranty:expire", "--at", later)
    assert result.exit_code == 0 and "-> 1" in result.output, result.output
    assert api.get(f"{W}/{w['id']}", headers=headers).get_json()["status"] == "expired"
    audit = api.get(f"/api/v1/audit?resource=warranty.warranties&record_id={w['id']}", headers=headers)
    assert audit.get_json()[0]["actor_name"] == "job:warranty:expire"


def test_the_automation_action_registers_a_warranty(warranty_app, api, headers_of):
    _admin, headers = headers_of("ann")
    actions = {a["name"] for a in api.get("/api/v1/automations/actions", headers=headers).get_json()}
    assert "warranty.register" in actions
    rule = {
        "name": "kettle warranty for newcomers",
        "trigger": "customer.created",
        "actions": [{"type": "warranty.register", "params": {"product": "Kettle", "months": 24}}],
    }
    assert api.post("/api/v1/automations", json=rule, headers=headers).status_code == 201
    bad = {**rule, "actions": [{"type": "warranty.register", "params": {"months": 0}}]}
    assert api.post("/api/v1/automations", json=bad, headers=headers).status_code == 422
    cid = customer(api, headers, name="Neo Newcomer")
    with warranty_app.app_context():
        deliver_events()
        deliver_events()
    listed = api.get(f"{W}?customer_id={cid}", headers=headers).get_json()
    assert [(w["product"], w["status"]) for w in listed] == [("Kettle", "active")]


def test_the_customer_panel_shows_what_the_viewer_may_read(warranty_app, api, headers_of):
    _admin, admin = headers_of("ann")
    headers_of("carl", roles=("sales",))
    cid = customer(api, admin, name="Pan Panel")
    warranty(api, admin, cid, serial="SN-PANEL", product="Toaster")
    browser = warranty_app.test_client()
    web_login(browser, "ann")
    html = browser.get(f"/records/customers/{cid}").get_data(as_text=True)
    assert 'id="warranty-panel"' in html and "Toaster" in html and "SN-PANEL" in html


def test_the_privacy_export_and_erasure(api, headers_of):
    _admin, headers = headers_of("ann")
    cid = customer(api, headers, name="Erin Erase")
    warranty(api, headers, cid, serial="SN-GDPR")
    document = api.get(f"/api/v1/customers/{cid}/privacy-export", headers=headers).get_json()
    assert [w["serial"] for w in document["plugins"]["warranty"]["warranties"]] == ["SN-GDPR"]
    assert api.post(f"/api/v1/customers/{cid}/erase", headers=headers).status_code in (200, 204)
    assert api.get(f"{W}?customer_id={cid}", headers=headers).get_json() == []
