"""Issue 13: every read path asks the one read decision (``permissions.view``).

Through the public HTTP API, on SQLite and PostgreSQL: the customer timeline and the privacy
export mask each item by its own resource's field rules and leave out what the actor cannot read;
exports never reach a row the actor gets 404 for; webhook payloads of events without a resource
fail closed; search, filters and sort never touch a secret column; a uniqueness conflict names
only records the caller may read.
"""

from __future__ import annotations

import csv
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crm_core.browser_testing import web_login
from crm_core.testing import follow_task

SECRET_BODY = "whispered-body-7731"
SECRET_AMOUNT = "98765.43"


def _role(client, headers, name, grants, rules=()):
    body = {
        "name": name,
        "grants": [{"resource": r, "action": a, "scope": s} for r, a, s in grants],
        "field_rules": [{"resource": r, "field": f, "rule": rule} for r, f, rule in rules],
    }
    r = client.post("/api/v1/roles", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()


def _dept(client, headers, name):
    r = client.post("/api/v1/departments", json={"name": name}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def _post(client, path, body, headers, status=201):
    r = client.post(path, json=body, headers=headers)
    assert r.status_code == status, r.get_json()
    return r.get_json()


def _pipeline(client, headers):
    stages = [{"name": "Lead"}, {"name": "Won", "kind": "won"}]
    return _post(
        client, "/api/v1/pipelines", {"name": "Sales", "is_default": True, "stages": stages}, headers
    )


@pytest.fixture
def world(client, make_user, admin_headers):
    """Two departments; a customer of the north with a deal and an activity owned by someone else
    of the north, one deal owned by the viewer, and a ticket; a viewer role that reads customers
    (department) and deals (own) and activities (department) with ``amount`` and ``body`` hidden,
    and nothing of tickets."""
    north, south = _dept(client, admin_headers, "North"), _dept(client, admin_headers, "South")
    _role(
        client,
        admin_headers,
        "masked_viewer",
        [
            ("customers", "read", "department"),
            ("customers", "export", "department"),
            ("deals", "read", "own"),
            ("activities", "read", "department"),
        ],
        [("deals", "amount", "hidden"), ("activities", "body", "hidden"), ("customers", "email", "hidden")],
    )
    viewer, viewer_h = make_user("viewer", roles=("masked_viewer",), department_id=north)
    colleague, _ = make_user("colleague", roles=("sales",), department_id=north)
    customer = _post(
        client,
        "/api/v1/customers",
        {"name": "Lin", "email": "lin@example.cn", "department_id": north, "owner_id": colleague.id},
        admin_headers,
    )
    pipeline = _pipeline(client, admin_headers)
    theirs = _post(
        client,
        "/api/v1/deals",
        {
            "title": "Colleague deal",
            "customer_id": customer["id"],
            "amount": "10.00",
            "owner_id": colleague.id,
            "pipeline_id": pipeline["id"],
        },
        admin_headers,
    )
    mine = _post(
        client,
        "/api/v1/deals",
        {
            "title": "Viewer deal",
            "customer_id": customer["id"],
            "amount": SECRET_AMOUNT,
            "owner_id": viewer.id,
            "pipeline_id": pipeline["id"],
        },
        admin_headers,
    )
    activity = _post(
        client,
        "/api/v1/activities",
        {
            "kind": "call",
            "subject": "Call Lin",
            "body": SECRET_BODY,
            "customer_id": customer["id"],
            "owner_id": colleague.id,
        },
        admin_headers,
    )
    ticket = _post(
        client,
        "/api/v1/tickets",
        {"title": "Broken kettle", "customer_id": customer["id"], "department_id": north},
        admin_headers,
    )
    return {
        "north": north,
        "south": south,
        "viewer": viewer,
        "h": viewer_h,
        "admin": admin_headers,
        "customer": customer,
        "mine": mine,
        "theirs": theirs,
        "activity": activity,
        "ticket": ticket,
    }


# --- timeline and privacy export ---------------------------------------------------------------


def test_timeline_masks_each_item_by_its_resource_and_scope(client, world):
    w = world
    r = client.get(f"/api/v1/customers/{w['customer']['id']}/timeline", headers=w["h"])
    assert r.status_code == 200, r.get_json()
    items = r.get_json()
    text = r.get_data(as_text=True)
    assert SECRET_AMOUNT not in text and SECRET_BODY not in text
    objects = {(i["object"], i["object_id"]) for i in items}
    assert ("deals", w["mine"]["id"]) in objects
    assert ("deals", w["theirs"]["id"]) not in objects  # deals: own scope
    assert ("activities", w["activity"]["id"]) in objects
    assert not any(i["object"] == "tickets" for i in items)  # no tickets grant
    for item in items:
        if item["object"] == "deals":
            assert "amount" not in item["data"]
        if item["object"] == "activities":
            assert "body" not in item["data"]
    # the admin still sees everything
    full = client.get(f"/api/v1/customers/{w['customer']['id']}/timeline", headers=w["admin"])
    assert SECRET_AMOUNT in full.get_data(as_text=True) and SECRET_BODY in full.get_data(as_text=True)


def test_privacy_export_masks_each_part_and_leaves_out_what_cannot_be_read(client, world):
    w = world
    r = client.get(f"/api/v1/customers/{w['customer']['id']}/privacy-export", headers=w["h"])
    assert r.status_code == 200, r.get_json()
    doc = r.get_json()
    text = r.get_data(as_text=True)
    assert SECRET_AMOUNT not in text and SECRET_BODY not in text and "lin@example.cn" not in text
    assert doc["customer"]["name"] == "Lin" and "email" not in doc["customer"]
    assert [d["id"] for d in doc["deals"]] == [w["mine"]["id"]]
    assert all("amount" not in d for d in doc["deals"])
    assert [a["id"] for a in doc["activities"]] == [w["activity"]["id"]]
    assert all("body" not in a for a in doc["activities"])
    assert doc["tickets"] == []
    full = client.get(f"/api/v1/customers/{w['customer']['id']}/privacy-export", headers=w["admin"])
    assert SECRET_BODY in full.get_data(as_text=True) and len(full.get_json()["deals"]) == 2


# --- exports are bounded by the read scope -------------------------------------------------------


@pytest.fixture
def wide_exporter(client, make_user, admin_headers):
    north, south = _dept(client, admin_headers, "North"), _dept(client, admin_headers, "South")
    _role(
        client,
        admin_headers,
        "wide_exporter",
        [
            ("customers", "read", "own"),
            ("customers", "create", "own"),
            ("customers", "export", "all"),
            ("deals", "read", "own"),
            ("deals", "export", "all"),
        ],
    )
    user, headers = make_user("exporter", roles=("wide_exporter",), department_id=north)
    mine = _post(client, "/api/v1/customers", {"name": "Mine Co"}, headers)
    theirs = _post(client, "/api/v1/customers", {"name": "Theirs Co", "department_id": south}, admin_headers)
    assert client.get(f"/api/v1/customers/{theirs['id']}", headers=headers).status_code == 404
    _pipeline(client, admin_headers)
    deal = _post(
        client, "/api/v1/deals", {"title": "Theirs deal", "customer_id": theirs["id"]}, admin_headers
    )
    mine_deal = {"title": "Mine deal", "customer_id": mine["id"], "owner_id": user.id}
    _post(client, "/api/v1/deals", mine_deal, admin_headers)
    return {"user": user, "h": headers, "mine": mine, "theirs": theirs, "deal": deal}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_api_export_never_reaches_rows_outside_the_read_scope(client, wide_exporter, fmt):
    w = wide_exporter
    r = client.get(f"/api/v1/customers/export?format={fmt}", headers=w["h"])
    assert r.status_code == 200
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
        names = [row["name"] for row in rows]
    else:
        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
        header = [c.value for c in next(sheet.iter_rows(max_row=1))]
        names = [row[header.index("name")] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == ["Mine Co"]


def test_web_exports_never_reach_rows_outside_the_read_scope(app, wide_exporter):
    web = app.test_client()
    assert web_login(web, "exporter").status_code == 302
    r = web.get("/records/customers/export.csv")
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    assert "Mine Co" in text and "Theirs Co" not in text
    r = web.get("/records/deals/export.csv")
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and "Mine deal" in text and "Theirs deal" not in text


# --- webhook payloads fail closed ------------------------------------------------------------------


class Receiver:
    def __init__(self):
        self.bodies = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.bodies.append(self.rfile.read(int(self.headers.get("content-length", 0))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app):
    app.config["WEBHOOK_ALLOW_PRIVATE_URLS"] = True
    r = Receiver()
    yield r
    r.close()


def test_webhook_payload_of_an_event_without_resource_keeps_only_ids(
    client, make_user, admin_headers, receiver
):
    import json

    from crm_core.db import database
    from crm_core.events import dispatch_pending, emit
    from crm_core.webhooks.outbound import deliver_due

    _role(
        client,
        admin_headers,
        "integrator",
        [("webhooks", "read", "all"), ("webhooks", "create", "all"), ("customers", "read", "all")],
    )
    _, headers = make_user("integrator_user", roles=("integrator",))
    _post(client, "/api/v1/webhooks", {"url": receiver.url, "events": ["thing.*"]}, headers)
    with database.atomic():
        emit("thing.happened", {"id": 7, "note": "private", "customer_name": "Lin"})
        emit("thing.announced", {"id": 8, "note": "for everyone"}, public=True)
    dispatch_pending()
    deliver_due()
    payloads = {p["type"]: p["data"] for p in (json.loads(b) for b in receiver.bodies)}
    assert payloads["thing.happened"] == {"id": 7}
    assert payloads["thing.announced"] == {"id": 8, "note": "for everyone"}


# --- search, filters and sort never touch secret columns ----------------------------------------


def test_webhook_secret_is_not_searchable_filterable_or_sortable(app, client, make_user, admin_headers):
    app.config["WEBHOOK_ALLOW_PRIVATE_URLS"] = True
    _post(client, "/api/v1/webhooks", {"url": "http://127.0.0.1:9/example", "events": ["*"]}, admin_headers)
    _role(client, admin_headers, "webhook_reader", [("webhooks", "read", "all")])
    _, reader = make_user("reader", roles=("webhook_reader",))
    r = client.get("/api/v1/webhooks", headers=reader)
    assert r.status_code == 200 and len(r.get_json()) == 1
    assert "secret" not in r.get_json()[0]
    r = client.get("/api/v1/webhooks?q=whsec_", headers=reader)
    assert r.status_code == 200 and r.get_json() == []
    assert client.get("/api/v1/webhooks?q=example", headers=reader).get_json() != []
    for query in ("secret=whsec_x", "secret__startswith=whsec_", "secret__contains=whsec_", "sort=secret"):
        r = client.get(f"/api/v1/webhooks?{query}", headers=reader)
        assert r.status_code == 400, (query, r.get_json())


def test_hidden_custom_field_of_a_custom_object_is_not_searched(client, make_user, admin_headers):
    spec = {"name": "course", "label": {"en": "Course"}, "fields": [{"name": "code", "type": "string"}]}
    _post(client, "/api/v1/objects", spec, admin_headers)
    _post(
        client, "/api/v1/objects/course", {"name": "Pottery", "custom": {"code": "zebra-42"}}, admin_headers
    )
    _role(
        client,
        admin_headers,
        "course_reader",
        [("objects.course", "read", "all")],
        [("objects.course", "code", "hidden")],
    )
    _, reader = make_user("course_reader_user", roles=("course_reader",))
    assert client.get("/api/v1/objects/course?q=Pottery", headers=reader).get_json() != []
    assert client.get("/api/v1/objects/course?q=zebra", headers=reader).get_json() == []


# --- uniqueness conflicts name only readable records ----------------------------------------------


def test_phone_conflict_reveals_the_id_only_of_a_readable_customer(client, make_user, admin_headers):
    north, south = _dept(client, admin_headers, "North"), _dept(client, admin_headers, "South")
    theirs = _post(
        client,
        "/api/v1/customers",
        {"name": "South", "phone": "+8613800000002", "department_id": south},
        admin_headers,
    )
    _, sales = make_user("north_sales", roles=("sales",), department_id=north)
    r = client.post("/api/v1/customers", json={"name": "Copy", "phone": "+8613800000002"}, headers=sales)
    assert r.status_code == 409
    body = r.get_json()
    assert "existing_id" not in body
    assert str(theirs["id"]) not in r.get_data(as_text=True).replace("+8613800000002", "")
    assert "already" in body["message"].lower()
    mine = _post(client, "/api/v1/customers", {"name": "Mine", "email": "mine@example.cn"}, sales)
    r = client.post("/api/v1/customers", json={"name": "Again", "email": "mine@example.cn"}, headers=sales)
    assert r.status_code == 409 and r.get_json()["existing_id"] == mine["id"]


def test_import_conflict_names_only_readable_customers(client, make_user, admin_headers):
    north, south = _dept(client, admin_headers, "North"), _dept(client, admin_headers, "South")
    theirs = {"name": "South", "phone": "+8613800000002", "department_id": south}
    theirs = _post(client, "/api/v1/customers", theirs, admin_headers)
    _, sales = make_user("north_sales", roles=("sales",), department_id=north)
    mine = _post(client, "/api/v1/customers", {"name": "Mine", "phone": "+8613800000003"}, sales)
    rows = "name,phone\nCopy,+8613800000002\nAgain,+8613800000003\n"
    form = {"file": (io.BytesIO(rows.encode()), "people.csv"), "mode": "valid_only"}
    r = client.post("/api/v1/customers/import", data=form, headers=sales, content_type="multipart/form-data")
    r = follow_task(client, r, sales)  # the import runs as a task, as its creator
    assert r.status_code == 200, r.get_json()
    errors = {e["row"]: e["errors"]["phone"] for e in r.get_json()["errors"]}
    assert len(errors) == 2
    assert not any(str(theirs["id"]) in message for messages in errors.values() for message in messages)
    assert any(str(mine["id"]) in message for messages in errors.values() for message in messages)
