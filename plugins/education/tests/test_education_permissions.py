"""Who sees what: consultants their own leads and trials, campus managers their campus and the
campuses below it, teachers only their classes' students, with fee fields hidden from them
(roles made through the core's roles API; SQLite and PostgreSQL)."""

from __future__ import annotations

import functools

import pytest
from education_testlib import MONDAY, E, department, ok, utc

EDU = ("education.courses", "education.rooms", "education.classes", "education.sessions")


def role(client, headers, name, grants, field_rules=()):
    body = {
        "name": name,
        "grants": [{"resource": r, "action": a, "scope": s} for r, a, s in grants],
        "field_rules": [{"resource": r, "field": f, "rule": rule} for r, f, rule in field_rules],
    }
    return ok(client.post("/api/v1/roles", json=body, headers=headers), 201)


@pytest.fixture
def world(client, admin_headers, make_user, school):
    h = admin_headers
    dept = functools.partial(department, client, admin_headers)
    hq = dept("HQ")
    east, west = dept("East campus", hq), dept("West campus", hq)
    east_annex = dept("East annex", east)
    role(
        client,
        h,
        "consultant",
        [
            ("customers", "read", "own"),
            ("customers", "create", "own"),
            ("customers", "update", "own"),
            *[(r, "read", "all") for r in EDU],
            *[("education.trials", a, "own") for a in ("read", "create")],
            *[("education.followups", a, "own") for a in ("read", "create")],
        ],
    )
    role(
        client,
        h,
        "campus_manager",
        [
            ("customers", "read", "department_tree"),
            *[
                (r, "read", "department_tree")
                for r in (
                    *EDU,
                    "education.trials",
                    "education.enrolments",
                    "education.packages",
                    "education.followups",
                )
            ],
        ],
    )
    role(
        client,
        h,
        "teacher",
        [
            ("customers", "read", "all"),
            ("education.classes", "read", "own"),
            ("education.sessions", "read", "own"),
            ("education.sessions", "roll_call", "own"),
            ("education.enrolments", "read", "all"),
            ("education.packages", "read", "all"),
            ("education.hours", "read", "all"),
            ("education.courses", "read", "all"),
        ],
        [("education.packages", "price", "hidden"), ("education.hours", "amount", "hidden")],
    )
    users = {}
    for name, roles, campus in [
        ("anna", ["consultant"], east),
        ("bob", ["consultant"], east_annex),
        ("carl", ["consultant"], west),
        ("erin", ["campus_manager"], east),
        ("tina", ["teacher"], east),
        ("tom", ["teacher"], west),
    ]:
        user, headers = make_user(f"perm_{name}", roles=roles, department_id=campus)
        users[name] = {"id": user.id, "h": headers}
    leads = {
        name: school.student(f"Lead of {name}", headers=users[name]["h"], lifecycle_stage="lead")
        for name in ("anna", "bob", "carl")
    }
    course = school.course()
    tina_class = school.klass(course, users["tina"]["id"], None, department_id=east)
    tom_class = school.klass(course, users["tom"]["id"], None, department_id=west)
    school.enrol(leads["anna"], tina_class)
    school.enrol(leads["carl"], tom_class)
    package = school.package(leads["anna"], course, hours="10", price="1500")
    sessions = {
        "tina": school.session(tina_class, utc(MONDAY, 1), utc(MONDAY, 2))["id"],
        "tom": school.session(tom_class, utc(MONDAY, 1), utc(MONDAY, 2))["id"],
    }
    return {
        "users": users,
        "leads": leads,
        "package": package,
        "sessions": sessions,
        "classes": {"tina": tina_class, "tom": tom_class},
    }


def names(client, headers, path):
    return sorted(r["id"] for r in ok(client.get(path, headers=headers)))


def test_consultants_see_their_own_leads_and_trials(client, school, world):
    u, leads = world["users"], world["leads"]
    assert names(client, u["anna"]["h"], "/api/v1/customers") == [leads["anna"]]
    assert names(client, u["carl"]["h"], "/api/v1/customers") == [leads["carl"]]
    mine = school.post("/trials", {"customer_id": leads["anna"], "kind": "request"}, headers=u["anna"]["h"])
    # a consultant cannot book a trial for someone else's lead: it is not theirs to read
    r = client.post(
        f"{E}/trials", json={"customer_id": leads["carl"], "kind": "request"}, headers=u["anna"]["h"]
    )
    assert r.status_code == 422 and "customer_id" in r.get_json()["errors"]
    assert names(client, u["anna"]["h"], f"{E}/trials") == [mine["id"]]
    assert names(client, u["bob"]["h"], f"{E}/trials") == []
    assert client.get(f"{E}/trials/{mine['id']}", headers=u["bob"]["h"]).status_code == 404


def test_campus_managers_see_their_campus_tree(client, world):
    u, leads = world["users"], world["leads"]
    assert names(client, u["erin"]["h"], "/api/v1/customers") == sorted([leads["anna"], leads["bob"]])
    assert names(client, u["erin"]["h"], f"{E}/classes") == [world["classes"]["tina"]]
    assert names(client, u["erin"]["h"], f"{E}/packages") == [world["package"]["id"]]


def test_teachers_see_only_their_classes_students_without_fees(client, world):
    u, leads, package = world["users"], world["leads"], world["package"]
    tina = u["tina"]["h"]
    assert names(client, tina, "/api/v1/customers") == [leads["anna"]]
    assert client.get(f"/api/v1/customers/{leads['bob']}", headers=tina).status_code == 404
    assert names(client, tina, f"{E}/classes") == [world["classes"]["tina"]]
    enrolments = ok(client.get(f"{E}/enrolments", headers=tina))
    assert [e["customer_id"] for e in enrolments] == [leads["anna"]]
    seen = ok(client.get(f"{E}/packages/{package['id']}", headers=tina))
    assert "price" not in seen and seen["balance"] == "10.00"
    assert "price" in ok(client.get(f"{E}/packages/{package['id']}", headers=u["erin"]["h"]))
    entries = ok(client.get(f"{E}/packages/{package['id']}/entries", headers=tina))
    assert entries and all("amount" not in e for e in entries)
    assert names(client, u["tom"]["h"], f"{E}/packages") == []
    hours = ok(client.get(f"{E}/students/{leads['anna']}/hours", headers=tina))
    assert hours["balance"] == "10.00" and "price" not in hours["packages"][0]


def test_teachers_call_the_roll_of_their_own_sessions_only(client, world):
    u, leads, s = world["users"], world["leads"], world["sessions"]
    body = {"marks": [{"customer_id": leads["anna"], "status": "present"}]}
    ok(client.post(f"{E}/sessions/{s['tina']}/roll-call", json=body, headers=u["tina"]["h"]))
    r = client.post(f"{E}/sessions/{s['tom']}/roll-call", json=body, headers=u["tina"]["h"])
    assert r.status_code == 404
    r = client.post(f"{E}/sessions/{s['tina']}/roll-call", json=body, headers=u["anna"]["h"])
    assert r.status_code == 403  # consultants read sessions but do not call the roll
