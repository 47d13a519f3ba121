"""The funnel (lead → trial booked → attended → enrolled) and the monthly school metrics
(revenue of consumed hours, attendance rate, renewal rate), overall and per consultant / campus,
over what the caller may read (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from education_testlib import MONDAY, E, department, ok, utc

from crm_core.plugin_api import utcnow


@pytest.fixture
def funnel_world(client, admin_headers, make_user, school):
    dept = functools.partial(department, client, admin_headers)
    east, west = dept("East"), dept("West")
    anna, anna_h = make_user("metrics_anna", department_id=east)
    carl, carl_h = make_user("metrics_carl", department_id=west)
    course = school.course("Art", hours="1")
    klass = school.klass(course, None, school.room(), department_id=east)
    sessions = [
        school.session(
            klass, utc(MONDAY + dt.timedelta(days=7 * i), 1), utc(MONDAY + dt.timedelta(days=7 * i), 2)
        )["id"]
        for i in range(2)
    ]
    leads = [school.student(f"Anna lead {i}", headers=anna_h, lifecycle_stage="lead") for i in range(3)]
    school.student("Carl lead", headers=carl_h, lifecycle_stage="lead")
    t1 = school.post(
        "/trials",
        {"customer_id": leads[0], "kind": "class_session", "session_id": sessions[0]},
        headers=anna_h,
    )
    school.post(
        "/trials",
        {"customer_id": leads[1], "kind": "class_session", "session_id": sessions[0]},
        headers=anna_h,
    )
    ok(client.post(f"{E}/trials/{t1['id']}/attend", json={"attended": True}, headers=anna_h))
    ok(client.post(f"{E}/trials/{t1['id']}/convert", json={"class_id": klass}, headers=anna_h))
    return {
        "anna": anna,
        "carl": carl,
        "east": east,
        "west": west,
        "course": course,
        "class": klass,
        "sessions": sessions,
        "leads": leads,
        "anna_h": anna_h,
    }


def period():
    today = utcnow().date()
    return f"from={today.replace(day=1).isoformat()}&until={today.isoformat()}"


def test_funnel_overall_and_per_consultant(client, admin_headers, funnel_world):
    body = ok(client.get(f"{E}/metrics/funnel?{period()}", headers=admin_headers))
    assert body["groups"] == [
        {
            "group": "all",
            "leads": 4,
            "trial_booked": 2,
            "trial_attended": 1,
            "enrolled": 1,
            "enrolled_after_trial": 1,
            "booking_rate": "0.5000",
            "show_rate": "0.5000",
            "trial_conversion": "1.0000",
            "overall_conversion": "0.2500",
        }
    ]
    by = ok(client.get(f"{E}/metrics/funnel?{period()}&by=consultant", headers=admin_headers))["groups"]
    counts = {g["group"]: (g["leads"], g["trial_booked"], g["enrolled"]) for g in by}
    assert counts == {funnel_world["anna"].id: (3, 2, 1), funnel_world["carl"].id: (1, 0, 0)}
    by = ok(client.get(f"{E}/metrics/funnel?{period()}&by=campus", headers=admin_headers))["groups"]
    assert {g["group"]: g["leads"] for g in by} == {funnel_world["east"]: 3, funnel_world["west"]: 1}


def test_revenue_and_attendance_per_month_of_the_lessons(client, admin_headers, school, funnel_world):
    w = funnel_world
    student = w["leads"][0]  # enrolled by the conversion
    school.package(student, w["course"], hours="10", price="1200.00")
    for session, status in zip(w["sessions"], ["present", "absent"], strict=True):
        body = {"marks": [{"customer_id": student, "status": status}]}
        ok(client.post(f"{E}/sessions/{session}/roll-call", json=body, headers=admin_headers))
    body = ok(
        client.get(f"{E}/metrics/school?from=2027-03-01&until=2027-03-31&by=campus", headers=admin_headers)
    )
    [row] = body["months"]
    assert (row["month"], row["group"], row["revenue"], row["attendance_rate"], row["marks"]) == (
        "2027-03",
        w["east"],
        "120.00",
        "0.5000",
        2,
    )
    assert "renewal_rate" in body["definitions"]


def test_renewal_rate(client, admin_headers, school, funnel_world):
    w = funnel_world
    renewing, leaving = w["leads"][0], school.student("Leaving")
    school.enrol(leaving, w["class"])
    school.package(renewing, w["course"], hours="5", price="500")
    school.package(renewing, w["course"], hours="5", price="500")  # bought again: renewed
    school.package(leaving, w["course"], hours="1", price="100")
    body = {"marks": [{"customer_id": leaving, "status": "present"}]}
    ok(client.post(f"{E}/sessions/{w['sessions'][0]}/roll-call", json=body, headers=admin_headers))  # used up
    months = ok(client.get(f"{E}/metrics/school?{period()}", headers=admin_headers))["months"]
    this_month = [m for m in months if m["month"] == utcnow().strftime("%Y-%m")]
    assert [(m["renewed"], m["ended"], m["renewal_rate"]) for m in this_month] == [(1, 1, "0.5000")]


def test_metrics_need_their_permission_and_count_only_readable_leads(
    client, admin_headers, make_user, funnel_world
):
    _, nobody = make_user("metrics_nobody", roles=())
    assert client.get(f"{E}/metrics/funnel", headers=nobody).status_code == 403
    grants = [
        {"resource": "customers", "action": "read", "scope": "own"},
        {"resource": "customers", "action": "create", "scope": "own"},
        {"resource": "education.metrics", "action": "read", "scope": "all"},
    ]
    ok(
        client.post(
            "/api/v1/roles", json={"name": "metrics_consultant", "grants": grants}, headers=admin_headers
        ),
        201,
    )
    _, own = make_user("metrics_own", roles=("metrics_consultant",))
    ok(client.post("/api/v1/customers", json={"name": "Own lead"}, headers=own), 201)
    [group] = ok(client.get(f"{E}/metrics/funnel?{period()}", headers=own))["groups"]
    assert group["leads"] == 1  # not the 4 leads of the others
    r = client.get(f"{E}/metrics/funnel?from=2027-03-31&until=2027-03-01", headers=admin_headers)
    assert r.status_code == 400 and "until" in r.get_json()["errors"]
    r = client.get(f"{E}/metrics/school?by=teacher", headers=admin_headers)
    assert r.status_code == 400 and "by" in r.get_json()["errors"]
