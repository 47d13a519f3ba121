"""The core objects over HTTP on SQLite and PostgreSQL: CRUD, normalisation, conflicts, trees,
pipelines, ticket flow, activities, segments, the timeline and the query count of lists."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

API = "/api/v1"


def post(client, headers, path, body, status=201):
    r = client.post(f"{API}/{path}", json=body, headers=headers)
    assert r.status_code == status, (r.status_code, r.get_json())
    return r.get_json()


def total(r):
    return json.loads(r.headers["X-Pagination"])["total"]


# --- customers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("138 0013 8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("(0)13800138000", "+8613800138000"),
        ("+1 650 253 0000", "+16502530000"),
    ],
)
def test_phone_is_stored_in_e164(client, admin_headers, raw, stored):
    assert post(client, admin_headers, "customers", {"name": "p", "phone": raw})["phone"] == stored


def test_default_phone_region_is_configurable(db_url, app_config):
    from crm_core.app import create_app
    from crm_core.entities.schemas import normalize_phone

    app = create_app({**app_config, "DATABASE_URL": db_url, "DEFAULT_PHONE_REGION": "US"})
    with app.app_context():
        assert normalize_phone("650 253 0000") == "+16502530000"
    app.extensions["crm"].db.close()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "a@example.com"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "email": "not-an-email"}, "email"),
        ({"name": "x", "phone": "12345"}, "phone"),
        ({"name": "x", "gender": "robot"}, "gender"),
        ({"name": "x", "birthday": "1990-02-30"}, "birthday"),
        ({"name": "x", "lifecycle_stage": "alien"}, "lifecycle_stage"),
        ({"name": "x", "unknown_field": 1}, "unknown_field"),
        ({"name": "x", "custom": {"nope": 1}}, "custom.nope"),
    ],
)
def test_invalid_customer_answers_422_per_field(client, admin_headers, body, field):
    r = client.post(f"{API}/customers", json=body, headers=admin_headers)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["errors"]


def test_duplicates_answer_409_with_the_existing_id(client, admin_headers):
    first = post(
        client, admin_headers, "customers", {"name": "a", "email": "A@Example.com", "phone": "13800138000"}
    )
    for body, field in [
        ({"name": "b", "email": " a@example.COM "}, "email"),
        ({"name": "b", "phone": "+86 13800138000"}, "phone"),
    ]:
        r = client.post(f"{API}/customers", json=body, headers=admin_headers)
        assert r.status_code == 409 and r.get_json()["existing_id"] == first["id"]
        assert field in r.get_json()["errors"]
    other = post(client, admin_headers, "customers", {"name": "c", "email": "c@example.com"})
    r = client.patch(f"{API}/customers/{other['id']}", json={"email": "a@example.com"}, headers=admin_headers)
    assert r.status_code == 409 and r.get_json()["existing_id"] == first["id"]
    # blanks are not values: two customers without e-mail never collide
    post(client, admin_headers, "customers", {"name": "d", "email": ""})
    post(client, admin_headers, "customers", {"name": "e", "email": None})


def test_customer_crud_and_tags(client, admin_headers):
    c = post(
        client, admin_headers, "customers", {"name": "张三", "tags": ["vip", "kol"], "birthday": "1990-05-01"}
    )
    assert c["tags"] == ["kol", "vip"] and c["birthday"] == "1990-05-01" and c["lifecycle_stage"] == "lead"
    assert c["created_at"].endswith("Z")
    post(client, admin_headers, "customers", {"name": "李四", "tags": ["vip"]})
    post(client, admin_headers, "customers", {"name": "王五"})

    def names(q):
        return sorted(x["name"] for x in client.get(f"{API}/customers?{q}", headers=admin_headers).get_json())

    assert names("tag=vip") == ["张三", "李四"]
    assert names("tag=vip&tag=kol") == ["张三"]
    assert names("tag=kol,vip") == ["张三", "李四"]
    r = client.patch(
        f"{API}/customers/{c['id']}",
        json={"tags": ["new"], "lifecycle_stage": "customer"},
        headers=admin_headers,
    )
    assert r.get_json()["tags"] == ["new"] and r.get_json()["lifecycle_stage"] == "customer"
    assert names("tag=kol") == []
    tags = client.get(f"{API}/tags?sort=name", headers=admin_headers).get_json()
    assert [t["name"] for t in tags] == ["kol", "new", "vip"]
    assert client.delete(f"{API}/customers/{c['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"{API}/customers/{c['id']}", headers=admin_headers).status_code == 404
    assert client.delete(f"{API}/customers/{c['id']}", headers=admin_headers).status_code == 404


def test_tags_crud(client, admin_headers):
    t = post(client, admin_headers, "tags", {"name": "vip", "color": "gold"})
    r = client.post(f"{API}/tags", json={"name": "vip"}, headers=admin_headers)
    assert r.status_code == 409 and r.get_json()["existing_id"] == t["id"]
    post(client, admin_headers, "customers", {"name": "x", "tags": ["vip"]})
    assert (
        client.patch(f"{API}/tags/{t['id']}", json={"color": "red"}, headers=admin_headers).get_json()[
            "color"
        ]
        == "red"
    )
    assert client.delete(f"{API}/tags/{t['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"{API}/customers", headers=admin_headers).get_json()[0]["tags"] == []


def test_malformed_and_unauthenticated(client, admin_headers):
    r = client.post(f"{API}/customers", data="{nope", content_type="application/json", headers=admin_headers)
    assert r.status_code == 400 and r.get_json()["code"] == 400
    assert client.get(f"{API}/companies").status_code == 401
    assert client.get(f"{API}/customers/999999", headers=admin_headers).status_code == 404


# --- companies and contacts -----------------------------------------------------------------------


def test_company_tree_of_any_depth(client, admin_headers):
    root = post(client, admin_headers, "companies", {"name": "HQ"})
    a = post(client, admin_headers, "companies", {"name": "A", "parent_id": root["id"]})
    b = post(client, admin_headers, "companies", {"name": "B", "parent_id": a["id"]})
    c = post(client, admin_headers, "companies", {"name": "C", "parent_id": b["id"]})
    other = post(client, admin_headers, "companies", {"name": "Other"})
    assert c["path"] == f"/{root['id']}/{a['id']}/{b['id']}/{c['id']}/"

    tree = client.get(f"{API}/companies/{root['id']}/tree", headers=admin_headers).get_json()
    assert tree["name"] == "HQ" and tree["children"][0]["name"] == "A"
    assert tree["children"][0]["children"][0]["children"][0]["name"] == "C"
    below = client.get(f"{API}/companies?ancestor={root['id']}&sort=name", headers=admin_headers).get_json()
    assert [x["name"] for x in below] == ["A", "B", "C"]

    # move A (and its subtree) under Other
    r = client.patch(f"{API}/companies/{a['id']}", json={"parent_id": other["id"]}, headers=admin_headers)
    assert r.status_code == 200
    moved = client.get(f"{API}/companies/{c['id']}", headers=admin_headers).get_json()
    assert moved["path"] == f"/{other['id']}/{a['id']}/{b['id']}/{c['id']}/"
    assert client.get(f"{API}/companies?ancestor={root['id']}", headers=admin_headers).get_json() == []

    # no cycles; an unknown parent is 422; a parent with children cannot be deleted
    r = client.patch(f"{API}/companies/{a['id']}", json={"parent_id": c["id"]}, headers=admin_headers)
    assert r.status_code == 422 and "parent_id" in r.get_json()["errors"]
    assert (
        client.post(
            f"{API}/companies", json={"name": "X", "parent_id": 999999}, headers=admin_headers
        ).status_code
        == 422
    )
    assert client.delete(f"{API}/companies/{b['id']}", headers=admin_headers).status_code == 409
    assert client.delete(f"{API}/companies/{c['id']}", headers=admin_headers).status_code == 204


def test_contacts(client, admin_headers):
    cust = post(client, admin_headers, "customers", {"name": "buyer"})
    comp = post(client, admin_headers, "companies", {"name": "Shop", "website": "https://shop.example.com"})
    contact = post(
        client,
        admin_headers,
        "contacts",
        {"customer_id": cust["id"], "company_id": comp["id"], "role": "采购"},
    )
    assert contact["role"] == "采购"
    r = client.post(
        f"{API}/contacts", json={"customer_id": cust["id"], "company_id": comp["id"]}, headers=admin_headers
    )
    assert r.status_code == 409 and r.get_json()["existing_id"] == contact["id"]
    r = client.post(
        f"{API}/contacts", json={"customer_id": 999999, "company_id": comp["id"]}, headers=admin_headers
    )
    assert r.status_code == 422 and "customer_id" in r.get_json()["errors"]
    assert (
        client.post(f"{API}/contacts", json={"customer_id": cust["id"]}, headers=admin_headers).status_code
        == 422
    )
    found = client.get(f"{API}/contacts?company_id={comp['id']}", headers=admin_headers).get_json()
    assert [x["id"] for x in found] == [contact["id"]]
    assert client.patch(
        f"{API}/contacts/{contact['id']}", json={"is_primary": True}, headers=admin_headers
    ).get_json()["is_primary"]
    assert client.delete(f"{API}/contacts/{contact['id']}", headers=admin_headers).status_code == 204


# --- pipelines and deals --------------------------------------------------------------------------


def make_pipeline(client, headers):
    stages = [
        {"name": "Lead"},
        {"name": "Proposal", "probability": 50},
        {"name": "Won", "kind": "won"},
        {"name": "Lost", "kind": "lost"},
    ]
    return post(client, headers, "pipelines", {"name": "Sales", "is_default": True, "stages": stages})


def test_pipelines_and_stages(client, admin_headers):
    p = make_pipeline(client, admin_headers)
    assert [s["name"] for s in p["stages"]] == ["Lead", "Proposal", "Won", "Lost"]
    assert [s["position"] for s in p["stages"]] == [0, 1, 2, 3]
    assert (
        client.post(
            f"{API}/pipelines", json={"name": "Sales", "stages": [{"name": "a"}]}, headers=admin_headers
        ).status_code
        == 409
    )
    assert (
        client.post(
            f"{API}/pipelines", json={"name": "Empty", "stages": []}, headers=admin_headers
        ).status_code
        == 422
    )
    lead, proposal, won, lost = (s["id"] for s in p["stages"])
    reordered = [
        {"id": proposal, "name": "Proposal"},
        {"id": lead, "name": "Lead"},
        {"id": won, "name": "Won", "kind": "won"},
        {"id": lost, "name": "Lost", "kind": "lost"},
        {"name": "Negotiation"},
    ]
    r = client.patch(f"{API}/pipelines/{p['id']}", json={"stages": reordered}, headers=admin_headers)
    assert [s["name"] for s in r.get_json()["stages"]] == ["Proposal", "Lead", "Won", "Lost", "Negotiation"]
    post(client, admin_headers, "deals", {"title": "d", "stage_id": lead})
    r = client.patch(
        f"{API}/pipelines/{p['id']}",
        json={"stages": [{"id": proposal, "name": "Proposal"}]},
        headers=admin_headers,
    )
    assert r.status_code == 409


def test_deal_stages_history_and_summary(client, admin_headers):
    p = make_pipeline(client, admin_headers)
    lead, proposal, won, lost = (s["id"] for s in p["stages"])
    cust = post(client, admin_headers, "customers", {"name": "buyer"})
    d1 = post(
        client,
        admin_headers,
        "deals",
        {"title": "big", "amount": "1000.10", "customer_id": cust["id"], "expected_close_date": "2027-01-31"},
    )
    assert d1["stage_id"] == lead and d1["pipeline_id"] == p["id"] and d1["status"] == "open"
    assert d1["amount"] == "1000.10"
    d2 = post(client, admin_headers, "deals", {"title": "small", "amount": "0.20", "stage_id": proposal})
    post(client, admin_headers, "deals", {"title": "third", "amount": "5", "stage_id": proposal})

    r = client.patch(
        f"{API}/deals/{d1['id']}", json={"stage_id": won, "close_reason": "best price"}, headers=admin_headers
    )
    assert (
        r.get_json()["status"] == "won"
        and r.get_json()["closed_at"]
        and r.get_json()["close_reason"] == "best price"
    )
    history = client.get(f"{API}/deals/{d1['id']}/stage-changes", headers=admin_headers).get_json()
    assert [(h["from_stage_id"], h["to_stage_id"]) for h in history] == [(None, lead), (lead, won)]
    r = client.patch(
        f"{API}/deals/{d2['id']}",
        json={"stage_id": lost, "close_reason": "too expensive"},
        headers=admin_headers,
    )
    assert r.get_json()["status"] == "lost"

    summary = client.get(f"{API}/pipelines/{p['id']}/summary", headers=admin_headers).get_json()
    by_name = {s["name"]: s for s in summary}
    assert by_name["Won"]["count"] == 1 and Decimal(by_name["Won"]["amount"]) == Decimal("1000.10")
    assert by_name["Proposal"]["count"] == 1 and Decimal(by_name["Proposal"]["amount"]) == Decimal("5.00")
    assert by_name["Lead"]["count"] == 0 and Decimal(by_name["Lead"]["amount"]) == 0
    assert [s["name"] for s in summary] == ["Lead", "Proposal", "Won", "Lost"]

    listed = client.get(f"{API}/deals?amount__gte=1&sort=-amount", headers=admin_headers).get_json()
    assert [d["title"] for d in listed] == ["big", "third"]
    assert client.get(f"{API}/deals?amount__gte=abc", headers=admin_headers).status_code == 400


def test_deal_errors(client, admin_headers):
    assert (
        client.post(f"{API}/deals", json={"title": "no pipeline"}, headers=admin_headers).status_code == 422
    )
    p = make_pipeline(client, admin_headers)
    other = post(client, admin_headers, "pipelines", {"name": "Other", "stages": [{"name": "S"}]})
    for body, field in [
        ({"title": "x", "stage_id": 999999}, "stage_id"),
        ({"title": "x", "pipeline_id": p["id"], "stage_id": other["stages"][0]["id"]}, "stage_id"),
        ({"title": "x", "amount": "-1"}, "amount"),
        ({"title": "x", "amount": "abc"}, "amount"),
        ({"title": "x", "customer_id": 999999}, "customer_id"),
        ({"title": "x", "currency": "yuan"}, "currency"),
    ]:
        r = client.post(f"{API}/deals", json=body, headers=admin_headers)
        assert r.status_code == 422 and field in r.get_json()["errors"], (body, r.get_json())
    d = post(client, admin_headers, "deals", {"title": "x", "pipeline_id": other["id"]})
    assert d["stage_id"] == other["stages"][0]["id"]
    assert client.delete(f"{API}/pipelines/{other['id']}", headers=admin_headers).status_code == 409


# --- tickets --------------------------------------------------------------------------------------


def test_ticket_flow_sla_and_transitions(client, admin_headers, make_user):
    agent, _ = make_user("agent")
    t = post(client, admin_headers, "tickets", {"title": "broken", "priority": "urgent"})
    assert t["status"] == "new" and t["sla_breached"] is False
    from datetime import datetime

    created = datetime.fromisoformat(t["created_at"].rstrip("Z"))
    due = datetime.fromisoformat(t["sla_due_at"].rstrip("Z"))
    assert (due - created).total_seconds() == 4 * 3600

    path = f"{API}/tickets/{t['id']}"
    r = client.patch(path, json={"status": "resolved"}, headers=admin_headers)
    assert r.status_code == 409 and "status" in r.get_json()["errors"]
    r = client.patch(path, json={"status": "assigned"}, headers=admin_headers)
    assert r.status_code == 422 and "assignee_id" in r.get_json()["errors"]
    for body in [
        {"status": "assigned", "assignee_id": agent.id},
        {"status": "in_progress"},
        {"status": "resolved"},
    ]:
        r = client.patch(path, json=body, headers=admin_headers)
        assert r.status_code == 200, r.get_json()
    assert r.get_json()["resolved_at"] and r.get_json()["sla_breached"] is False
    assert client.patch(path, json={"status": "closed"}, headers=admin_headers).get_json()["closed_at"]
    assert client.patch(path, json={"status": "in_progress"}, headers=admin_headers).status_code == 409

    history = client.get(f"{path}/transitions", headers=admin_headers).get_json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "new"),
        ("new", "assigned"),
        ("assigned", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
    ]

    low = post(client, admin_headers, "tickets", {"title": "q", "priority": "low", "assignee_id": agent.id})
    assert low["status"] == "assigned"
    created = datetime.fromisoformat(low["created_at"].rstrip("Z"))
    assert (datetime.fromisoformat(low["sla_due_at"].rstrip("Z")) - created).total_seconds() == 72 * 3600
    assert (
        client.post(
            f"{API}/tickets", json={"title": "x", "status": "closed"}, headers=admin_headers
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"{API}/tickets", json={"title": "x", "priority": "meh"}, headers=admin_headers
        ).status_code
        == 422
    )


def test_breached_tickets(app, client, admin_headers):
    from crm_core.db import utcnow
    from crm_core.entities.models import Ticket

    late = post(client, admin_headers, "tickets", {"title": "late"})
    post(client, admin_headers, "tickets", {"title": "fresh"})
    Ticket.update(sla_due_at=utcnow().replace(year=2000)).where(Ticket.id == late["id"]).execute()
    assert client.get(f"{API}/tickets/{late['id']}", headers=admin_headers).get_json()["sla_breached"] is True
    r = client.get(f"{API}/tickets?sla_breached=true", headers=admin_headers).get_json()
    assert [t["title"] for t in r] == ["late"]
    r = client.get(f"{API}/tickets?sla_breached=false", headers=admin_headers).get_json()
    assert [t["title"] for t in r] == ["fresh"]
    assert client.get(f"{API}/tickets?sla_breached=maybe", headers=admin_headers).status_code == 400


# --- activities and the timeline ------------------------------------------------------------------


def test_activities_attach_to_any_object_and_the_timeline(client, admin_headers):
    p = make_pipeline(client, admin_headers)
    cust = post(client, admin_headers, "customers", {"name": "buyer"})
    comp = post(client, admin_headers, "companies", {"name": "Shop"})
    deal = post(client, admin_headers, "deals", {"title": "order", "customer_id": cust["id"]})
    note = post(
        client,
        admin_headers,
        "activities",
        {"kind": "note", "subject": "met", "related_type": "customers", "related_id": cust["id"]},
    )
    assert note["customer_id"] == cust["id"]
    call = post(
        client,
        admin_headers,
        "activities",
        {"kind": "call", "subject": "follow up", "related_type": "deals", "related_id": deal["id"]},
    )
    assert call["customer_id"] == cust["id"]
    task = post(
        client,
        admin_headers,
        "activities",
        {
            "kind": "task",
            "subject": "send quote",
            "due_at": "2030-01-01T09:00:00+08:00",
            "related_type": "companies",
            "related_id": comp["id"],
        },
    )
    assert task["due_at"] == "2030-01-01T01:00:00Z" and task["done"] is False and task["customer_id"] is None
    done = client.patch(
        f"{API}/activities/{task['id']}", json={"done": True}, headers=admin_headers
    ).get_json()
    assert done["done"] and done["done_at"]
    for body, field in [
        ({"kind": "fax", "subject": "x"}, "kind"),
        ({"kind": "note", "subject": "x", "related_type": "deals"}, "related_id"),
        ({"kind": "note", "subject": "x", "related_type": "deals", "related_id": 999999}, "related_id"),
        ({"kind": "note", "subject": "x", "related_type": "planets", "related_id": 1}, "related_type"),
    ]:
        r = client.post(f"{API}/activities", json=body, headers=admin_headers)
        assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()
    assert [
        a["subject"]
        for a in client.get(
            f"{API}/activities?related_type=deals&related_id={deal['id']}", headers=admin_headers
        ).get_json()
    ] == ["follow up"]

    ticket = post(client, admin_headers, "tickets", {"title": "broken", "customer_id": cust["id"]})
    client.patch(f"{API}/deals/{deal['id']}", json={"stage_id": p["stages"][1]["id"]}, headers=admin_headers)
    client.patch(
        f"{API}/tickets/{ticket['id']}", json={"status": "assigned", "assignee_id": 1}, headers=admin_headers
    )
    timeline = client.get(f"{API}/customers/{cust['id']}/timeline", headers=admin_headers).get_json()
    types = [i["type"] for i in timeline]
    assert set(types) == {
        "activity.note",
        "activity.call",
        "deal.created",
        "deal.stage_changed",
        "ticket.created",
        "ticket.status_changed",
    }
    ats = [i["at"] for i in timeline]
    assert ats == sorted(ats, reverse=True)
    limited = client.get(f"{API}/customers/{cust['id']}/timeline?limit=2", headers=admin_headers).get_json()
    assert limited == timeline[:2]
    older = client.get(
        f"{API}/customers/{cust['id']}/timeline",
        query_string={"before": timeline[1]["at"]},
        headers=admin_headers,
    ).get_json()
    assert all(i["at"] < timeline[1]["at"] for i in older)
    assert (
        client.get(f"{API}/customers/{cust['id']}/timeline?limit=0", headers=admin_headers).status_code == 400
    )
    assert client.get(f"{API}/customers/999999/timeline", headers=admin_headers).status_code == 404


# --- segments -------------------------------------------------------------------------------------


def test_segments_evaluate_and_count(client, admin_headers):
    post(client, admin_headers, "customers", {"name": "a", "tags": ["vip"], "source_channel": "kol"})
    post(client, admin_headers, "customers", {"name": "b", "tags": ["vip"], "source_channel": "store"})
    post(client, admin_headers, "customers", {"name": "c", "source_channel": "kol"})
    seg = post(
        client,
        admin_headers,
        "segments",
        {"name": "VIP from KOL", "filters": {"tag": "vip", "source_channel": ["kol", "store"]}},
    )
    assert client.get(f"{API}/segments/{seg['id']}/count", headers=admin_headers).get_json() == {"count": 2}
    r = client.get(f"{API}/segments/{seg['id']}/customers?sort=-name&page_size=1", headers=admin_headers)
    assert [c["name"] for c in r.get_json()] == ["b"] and total(r) == 2
    client.patch(
        f"{API}/segments/{seg['id']}", json={"filters": {"source_channel": "kol"}}, headers=admin_headers
    )
    assert client.get(f"{API}/segments/{seg['id']}/count", headers=admin_headers).get_json() == {"count": 2}
    for filters in [{"no_such": 1}, {"page": 2}, {"name__between": "a"}, {"x": {"nested": 1}}]:
        r = client.post(f"{API}/segments", json={"name": "bad", "filters": filters}, headers=admin_headers)
        assert r.status_code == 422 and "filters" in r.get_json()["errors"], r.get_json()
    assert (
        client.post(f"{API}/segments", json={"name": "no filters"}, headers=admin_headers).status_code == 422
    )


# --- no N+1 ---------------------------------------------------------------------------------------


#: statements of one list request in production (each request in its own app context, so nothing
#: is cached in ``g``): the token with its user, roles and the request stamps (the permission
#: revision and the custom fields' version, behind which grants, field rules and definitions are
#: cached per worker), the count and the page, plus one grouped query for what the page embeds
#: (customers' tags, pipelines' stages). ``bench/bench_statements.py`` prints the same path. On
#: PostgreSQL a read whose token is kept sends no statement for its stamps (one fewer).
LIST_STATEMENTS = {"customers": 4, "pipelines": 4}


@pytest.mark.parametrize(
    "path",
    ["customers", "pipelines", "deals", "tickets", "activities", "companies", "contacts", "tags", "segments"],
)
def test_list_query_count_does_not_grow_with_page_size(app, client, admin_headers, db, path):
    from crm_core.demo.customers import seed

    seed(60, plugins=["core.demo"])  # the core's records; the plugins' demos are their own
    from crm_core.entities.models import Company, Contact, Customer

    comp = Company.select().first()
    Contact.insert_many(
        [
            {"customer": c.id, "company": comp.id, "role": "r", "custom": {}}
            for c in Customer.select().limit(30)
        ]
    ).on_conflict_ignore().execute()  # the demo links some customers to companies already
    client.post(f"{API}/segments", json={"name": "s1", "filters": {"tag": "vip"}}, headers=admin_headers)

    real = db.execute_sql
    counts = []

    def counting(sql, *args, **kwargs):
        counts[-1] += 1
        return real(sql, *args, **kwargs)

    client.get(f"{API}/{path}", headers=admin_headers)  # warm per-process caches (compiled queries)
    db.execute_sql = counting
    try:
        for size in (2, 25):
            counts.append(0)
            r = client.get(f"{API}/{path}?page_size={size}", headers=admin_headers)
            assert r.status_code == 200 and len(r.get_json()) == min(size, total(r))
    finally:
        db.execute_sql = real
    assert counts[0] == counts[1], f"{path}: {counts[0]} queries for 2 rows but {counts[1]} for 25"
    # on PostgreSQL a read assumes its stamps, checked in its first statement's round trip
    stamps_read = 0 if hasattr(db, "expect") else 1
    expected = LIST_STATEMENTS.get(path, 3) - 1 + stamps_read
    assert counts[0] == expected, f"{path}: {counts[0]} statements per list"


def test_activities_attach_to_custom_objects(client, admin_headers):
    assert client.post(f"{API}/objects", json={"name": "course"}, headers=admin_headers).status_code == 201
    course = post(client, admin_headers, "objects/course", {"name": "Math"})
    body = {
        "kind": "meeting",
        "subject": "first lesson",
        "related_type": "objects.course",
        "related_id": course["id"],
    }
    a = post(client, admin_headers, "activities", body)
    assert a["related_type"] == "objects.course" and a["customer_id"] is None
    r = client.post(
        f"{API}/activities", json={**body, "related_id": course["id"] + 1000}, headers=admin_headers
    )
    assert r.status_code == 422 and "related_id" in r.get_json()["errors"]
    r = client.post(f"{API}/activities", json={**body, "related_type": "objects.nope"}, headers=admin_headers)
    assert r.status_code == 422 and "related_type" in r.get_json()["errors"]


def test_demo_data_command_seeds_in_bulk_and_can_run_again(app, client, admin_headers):
    from crm_core.demo.command import demo_data_command

    runner = app.test_cli_runner()
    result = runner.invoke(demo_data_command, ["--customers", "30", "--chunk", "7"])
    assert result.exit_code == 0, result.output
    assert "customers 30" in result.output
    again = runner.invoke(demo_data_command, ["--customers", "30"])
    assert again.exit_code == 0, again.output
    r = client.get(f"{API}/customers?page_size=1", headers=admin_headers)
    assert total(r) == 60
    phones = [
        c["phone"] for c in client.get(f"{API}/customers?page_size=200", headers=admin_headers).get_json()
    ]
    assert len(set(phones)) == 60 and all(p.startswith("+86") for p in phones)
    pipeline = client.get(f"{API}/pipelines", headers=admin_headers).get_json()[0]
    summary = client.get(f"{API}/pipelines/{pipeline['id']}/summary", headers=admin_headers).get_json()
    assert sum(s["count"] for s in summary) == 30  # 15 deals per run (half of 30 customers) x 2


@settings(max_examples=200, deadline=None)
@given(
    subscriber=st.integers(min_value=0, max_value=99_999_999),
    prefix=st.sampled_from(["138", "139", "186", "150"]),
)
def test_phone_normalisation_is_idempotent_and_ignores_formatting(subscriber, prefix):
    from crm_core.entities.schemas import normalize_phone

    digits = f"{prefix}{subscriber:08d}"
    stored = normalize_phone(digits, "CN")
    assert stored == f"+86{digits}"
    assert normalize_phone(stored, "US") == stored  # an E.164 value keeps its country whatever the region
    spaced = f"{digits[:3]} {digits[3:7]}-{digits[7:]}"
    assert normalize_phone(spaced, "CN") == normalize_phone(f"+86 {spaced}", "CN") == stored


@settings(max_examples=200, deadline=None)
@given(local=st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._+-]{0,20}[A-Za-z0-9])?", fullmatch=True))
def test_email_normalisation_is_lower_case_and_idempotent(local):
    from crm_core.entities.schemas import normalize_email

    if ".." in local:
        return
    stored = normalize_email(f"  {local}@Example.COM ")
    assert stored == stored.lower() == normalize_email(stored)
