"""Every read path, generated from the app's own URL map: a new GET route is checked the day it is
added, without anyone remembering to write a test for it.

The world: a ``spy`` who may read everything in its department (``*:read:department``) but whose
field rules hide a core and a custom field of customers, deal amounts and activity bodies; records
carrying those hidden values inside its scope; records of another department outside it. Every
GET route of the API and of the workbench is called as the spy, with each route parameter filled
from ``PARAMS`` (in-scope and out-of-scope ids alike). No answer may contain a hidden value or an
out-of-scope record, and none may be a 500.

A route whose parameters ``PARAMS`` cannot fill fails the test: add the parameter there (or the
route to ``NOT_READ_PATHS`` with the reason it reads no record data).
"""

from __future__ import annotations

import io
import itertools
import re
import types

import pytest

from crm_core.auth.models import Role
from crm_core.browser_testing import web_login
from crm_core.directory.departments import create_department
from crm_core.permissions.models import FieldRule, Grant

API = "/api/v1"

#: Values only hidden fields hold: no answer to the spy may contain one.
HIDDEN = {
    "customers.email": "hidden-marker-7f3a@example.com",
    "customers.custom.vault": "HIDDENVAULT7f3a",
    "deals.amount": "987654.32",
    "activities.body": "HIDDENBODY7f3a",
}
#: Values only records outside the spy's scope hold.
OUTSIDE = {
    "customer": "OUTSIDECUSTOMER9c1e",
    "deal": "OUTSIDEDEAL9c1e",
    "activity": "OUTSIDEACTIVITY9c1e",
    "ticket": "OUTSIDETICKET9c1e",
    "import": "OUTSIDEIMPORT9c1e",
    "company": "OUTSIDECOMPANY9c1e",
}
#: Routes that read no record data, with the reason.
NOT_READ_PATHS = {
    "/static/<path:filename>": "static files",
    "/api/v1/docs": "the API documentation page",
    "/api/v1/openapi.json": "the API description",
    "/login": "the login form",
    "/t/<string:code>": "a public short-link redirect",
    "/health/ready": "a readiness probe: check names only (503 while no scheduler beats, as here)",
}


def _leaks(body: str) -> list[str]:
    found = [name for name, value in HIDDEN.items() if value in body]
    # amounts are also shown formatted or as numbers in charts
    if "987,654" in body or "987654.3" in body:
        found.append("deals.amount (formatted)")
    found += [f"outside {name}" for name, value in OUTSIDE.items() if value in body]
    return sorted(set(found))


@pytest.fixture
def world(app, client, make_user):
    home = create_department("home")
    away = create_department("away")
    spy_role = Role.create(name="spy")
    Grant.create(role=spy_role, resource="*", action="read", scope="department")
    for resource, field in [
        ("customers", "email"),
        ("customers", "vault"),
        ("deals", "amount"),
        ("activities", "body"),
    ]:
        FieldRule.create(role=spy_role, resource=resource, field=field, rule="hidden")
    _, admin = make_user("boss")
    r = client.post(f"{API}/fields/customers", json={"name": "vault", "type": "string"}, headers=admin)
    assert r.status_code == 201, r.get_json()
    spy, spy_h = make_user("spy", roles=("spy",), department_id=home.id)
    colleague, colleague_h = make_user("colleague", roles=("sales",), department_id=home.id)
    stranger, stranger_h = make_user("stranger", roles=("sales",), department_id=away.id)

    def post(path, body, headers):
        r = client.post(f"{API}/{path}", json=body, headers=headers)
        assert r.status_code == 201, (path, r.get_json())
        return r.get_json()["id"]

    inside = post(
        "customers",
        {
            "name": "Insider",
            "email": HIDDEN["customers.email"],
            "custom": {"vault": HIDDEN["customers.custom.vault"]},
        },
        colleague_h,
    )
    outside = post("customers", {"name": OUTSIDE["customer"]}, stranger_h)
    stages = [{"name": "Lead", "probability": 10}, {"name": "Won", "probability": 100, "kind": "won"}]
    post("pipelines", {"name": "Sales", "is_default": True, "stages": stages}, admin)
    deal_in = post(
        "deals",
        {"title": "Inside deal", "customer_id": inside, "amount": HIDDEN["deals.amount"]},
        colleague_h,
    )
    # the stranger's deal and activity sit on a customer the spy reads: the timeline must skip them
    shared = post("customers", {"name": "Shared"}, colleague_h)
    deal_out = post("deals", {"title": OUTSIDE["deal"], "customer_id": outside}, stranger_h)
    activity_in = post(
        "activities",
        {"kind": "note", "subject": "Inside note", "body": HIDDEN["activities.body"], "customer_id": inside},
        colleague_h,
    )
    activity_out = post(
        "activities", {"kind": "note", "subject": OUTSIDE["activity"], "customer_id": outside}, stranger_h
    )
    r = client.post(
        f"{API}/tickets", json={"title": OUTSIDE["ticket"], "customer_id": outside}, headers=admin
    )
    ticket_out = r.get_json()["id"] if r.status_code == 201 else 0
    # the away department's ticket (the admin files it there)
    if ticket_out:
        from crm_core.entities.models import Ticket

        Ticket.update(department_id=away.id).where(Ticket.id == ticket_out).execute()
    # the stranger's import, queued as a task: its file and report belong to the stranger alone
    csv_text = f"姓名\n{OUTSIDE['import']}\n".encode()
    form = {"file": (io.BytesIO(csv_text), "people.csv")}
    r = client.post(
        f"{API}/customers/import", data=form, headers=stranger_h, content_type="multipart/form-data"
    )
    assert r.status_code == 202, r.get_json()
    task_out = r.get_json()["id"]
    # the stranger's file waiting in the import wizard: only the stranger may preview it
    from crm_core.records.import_store import save_upload

    upload_out = save_upload(stranger.id, "customers", "people.csv", csv_text).id
    # a dealer network: the spy reads the parent, not the stranger's branch below it, nor the
    # stranger's customer linked to the parent (company pages, their graph, search)
    parent = post("companies", {"name": "Inside parent"}, colleague_h)
    r = client.post(
        f"{API}/companies",
        json={"name": OUTSIDE["company"], "parent_id": parent, "department_id": away.id},
        headers=admin,
    )
    assert r.status_code == 201, r.get_json()
    branch = r.get_json()["id"]
    r = client.post(
        f"{API}/contacts",
        json={"customer_id": outside, "company_id": parent, "role": "x", "department_id": away.id},
        headers=admin,
    )
    assert r.status_code == 201, r.get_json()
    # answered access requests, their exports kept: made by an admin, who sees every field
    requests = []
    for customer in (inside, outside):
        request_id = post("privacy-requests", {"kind": "access", "customer_id": customer}, admin)
        r = client.post(f"{API}/privacy-requests/{request_id}/process", headers=admin)
        assert r.status_code == 200, r.get_json()
        requests.append(request_id)
    ids = {
        "companies": [parent, branch],
        "customers": [inside, outside, shared],
        "deals": [deal_in, deal_out],
        "activities": [activity_in, activity_out],
        "tickets": [ticket_out],
        "tasks": [task_out],
        "uploads": [upload_out],
        "privacy_requests": requests,
    }
    return types.SimpleNamespace(
        spy=spy, spy_h=spy_h, ids=ids, users=[spy.id, colleague.id, stranger.id], depts=[home.id, away.id]
    )


def params(world) -> dict[str, list]:
    """Values to try for each route parameter name."""
    any_ids = sorted({i for values in world.ids.values() for i in values})
    return {
        "record_id": any_ids,
        "customer_id": world.ids["customers"],
        "task_id": world.ids["tasks"],
        "upload_id": world.ids["uploads"],
        "user_id": world.users,
        "department_id": world.depts,
        "role_id": ["spy", "sales"],
        "resource": ["customers", "deals", "activities", "tickets", "companies"],
        "entity": ["customers", "deals", "activities"],
        # the pickers' lookup: every kind of record a reference can point to
        "target": [
            "customers",
            "deals",
            "activities",
            "tickets",
            "companies",
            "users",
            "departments",
            "stages",
        ],
        "name": ["vault", "email"],
        "type_name": ["asset"],
        "fmt": ["csv", "xlsx", "json", "html"],
        "kind": ["png", "svg"],
        "dimension": ["channel", "campaign", "kol"],
        "visitor_id": ["v1"],
        "campaign_id": [1],
        # the archive's conversations (none in this world: the spy must get 404/403, not a leak)
        "conversation_id": [1],
        "request_id": world.ids["privacy_requests"],
        "link_id": [1],
        "tier_id": [1, 2],
        "rule_id": [1, 2],
        "delivery_id": [1],
        # a messaging channel (none in this world: the spy must get 404/403, not a leak)
        "channel_id": [1],
        "event_id": list(range(1, 30)),
        "filename": [],
    }


def _urls(rule, values: dict) -> list[str] | None:
    names = list(rule.arguments)
    if not names:
        return [rule.rule]
    if any(name not in values for name in names):
        return None
    out = []
    for combo in itertools.product(*(values[name] for name in names)):
        url = rule.rule
        for name, value in zip(names, combo, strict=True):
            url = re.sub(rf"<(?:[^<>:]+:)?{name}>|<any\([^)]*\):{name}>", str(value), url)
        out.append(url)
    return out


def test_every_read_path_masks_hidden_fields_and_keeps_out_of_scope_rows_out(app, client, world):
    rules = sorted(
        (r for r in app.url_map.iter_rules() if "GET" in r.methods and r.rule not in NOT_READ_PATHS),
        key=lambda r: r.rule,
    )
    values = params(world)
    unfilled = [r.rule for r in rules if _urls(r, values) is None]
    assert not unfilled, f"add these route parameters to PARAMS: {unfilled}"

    web = app.test_client()
    assert web_login(web, "spy").status_code in (302, 303)
    problems = []
    checked = 0
    for rule in rules:
        for url in _urls(rule, values):
            is_api = url.startswith(API)
            response = client.get(url, headers=world.spy_h) if is_api else web.get(url)
            checked += 1
            body = response.get_data(as_text=True)
            if response.status_code >= 500:
                problems.append((url, response.status_code, "server error"))
            leaks = _leaks(body)
            if leaks:
                problems.append((url, response.status_code, leaks))
    assert checked > 100
    assert not problems, "\n".join(map(str, problems))
