"""Lesson packages and roll call: the hours ledger is a signed sum, roll call consumes once per
student and session, changes write compensating entries, transfers and refunds move value, and
balances never go negative unless the setting allows (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from education_testlib import MONDAY, E, events, ok, utc

from crm_core.testing import run_cli


@pytest.fixture
def lesson(school):
    """A class of a 2-hour course with one enrolled student and one session."""
    course = school.course("Piano", hours="2")
    klass = school.klass(course, None, school.room())
    student = school.student("Han Meimei")
    school.enrol(student, klass)
    session = school.session(klass, utc(MONDAY, 1), utc(MONDAY, 3))
    return {"course": course, "class": klass, "student": student, "session": session["id"]}


def balance(client, headers, student):
    return ok(client.get(f"{E}/students/{student}/hours", headers=headers))["balance"]


def entries(client, headers, package_id):
    return [
        (e["kind"], e["hours"], e["amount"])
        for e in ok(client.get(f"{E}/packages/{package_id}/entries", headers=headers))
    ]


def call(client, headers, session, student, status, expect=200):
    body = {"marks": [{"customer_id": student, "status": status}]}
    return ok(client.post(f"{E}/sessions/{session}/roll-call", json=body, headers=headers), expect)


def test_roll_call_consumes_once_and_corrections_compensate(client, admin_headers, school, lesson):
    package = school.package(lesson["student"], lesson["course"], hours="10", price="1000.00")
    assert package["balance"] == "10.00"
    h, s, st = admin_headers, lesson["session"], lesson["student"]
    result = call(client, h, s, st, "present")
    assert result["status"] == "done" and result["marks"][0]["balance"] == "8.00"
    call(client, h, s, st, "present")  # the same roll call again: nothing more
    assert balance(client, h, st) == "8.00"
    call(client, h, s, st, "absent")  # a correction gives the hours back
    assert balance(client, h, st) == "10.00"
    call(client, h, s, st, "present")
    assert entries(client, h, package["id"]) == [
        ("purchase", "10.00", "1000.00"),
        ("consume", "-2.00", "-200.00"),
        ("reverse", "2.00", "200.00"),
        ("consume", "-2.00", "-200.00"),
    ]
    attended = events(client, h, "lesson.attended")
    assert [e["customer_id"] for e in attended] == [st, st]  # present twice, not three times
    roster = ok(client.get(f"{E}/sessions/{s}/roster", headers=h))["students"]
    assert roster == [{"customer_id": st, "trial_id": None, "status": "present"}]


def test_soonest_expiring_package_is_used_first_and_expired_never(client, admin_headers, school, lesson):
    later = school.package(
        lesson["student"], lesson["course"], hours="4", price="400", valid_until="2027-12-31"
    )
    sooner = school.package(
        lesson["student"], lesson["course"], hours="4", price="400", valid_until="2027-06-30"
    )
    school.package(lesson["student"], lesson["course"], hours="4", price="400", valid_until="2027-02-01")
    result = call(client, admin_headers, lesson["session"], lesson["student"], "present")
    assert result["marks"][0]["package_id"] == sooner["id"]
    assert later["id"] != sooner["id"]


def test_not_enough_hours_is_409_and_nothing_is_written(client, admin_headers, school, lesson):
    package = school.package(lesson["student"], lesson["course"], hours="1", price="100")
    body = call(client, admin_headers, lesson["session"], lesson["student"], "present", expect=409)
    assert "not enough hours" in str(body["errors"]["marks"]).lower()
    assert entries(client, admin_headers, package["id"]) == [("purchase", "1.00", "100.00")]
    roster = ok(client.get(f"{E}/sessions/{lesson['session']}/roster", headers=admin_headers))["students"]
    assert roster[0]["status"] is None  # the roll call rolled back whole


def test_someone_not_in_the_session_cannot_be_marked(client, admin_headers, school, lesson):
    stranger = school.student("Stranger")
    body = call(client, admin_headers, lesson["session"], stranger, "present", expect=422)
    assert "marks" in body["errors"]


def test_transfer_and_refund_move_hours_and_value(client, admin_headers, school, lesson):
    h = admin_headers
    source = school.package(lesson["student"], lesson["course"], hours="10", price="1000")
    sibling = school.student("Sibling")
    target = school.package(sibling, lesson["course"], hours="1", price="80")
    call(client, h, lesson["session"], lesson["student"], "present")
    body = {"to_package_id": target["id"], "hours": "3", "reference": "T-1"}
    out = ok(client.post(f"{E}/packages/{source['id']}/transfer", json=body, headers=h), 201)
    assert [(e["kind"], e["hours"], e["amount"]) for e in out] == [
        ("transfer_out", "-3.00", "-300.00"),
        ("transfer_in", "3.00", "300.00"),
    ]
    assert ok(
        client.post(f"{E}/packages/{source['id']}/transfer", json=body, headers=h), 409
    )  # same reference
    too_much = {**body, "reference": "T-2", "hours": "6"}
    r = ok(client.post(f"{E}/packages/{source['id']}/transfer", json=too_much, headers=h), 409)
    assert "hours" in r["errors"]
    refund = ok(client.post(f"{E}/packages/{source['id']}/refund", json={"reference": "R-1"}, headers=h), 201)
    assert (refund["hours"], refund["amount"]) == ("-5.00", "-500.00")
    detail = ok(client.get(f"{E}/packages/{source['id']}", headers=h))
    assert detail["status"] == "refunded" and detail["balance"] == "0.00"
    assert ok(client.get(f"{E}/packages/{target['id']}", headers=h))["balance"] == "4.00"


def test_package_hours_and_price_cannot_be_edited(client, admin_headers, school, lesson):
    package = school.package(lesson["student"], lesson["course"])
    r = client.patch(f"{E}/packages/{package['id']}", json={"hours": "99"}, headers=admin_headers)
    assert r.status_code == 422, r.get_json()
    ok(
        client.patch(
            f"{E}/packages/{package['id']}", json={"valid_until": "2027-12-31"}, headers=admin_headers
        )
    )


def test_hours_low_job_reminds_once(app, client, admin_headers, school, lesson):
    low = school.package(lesson["student"], lesson["course"], hours="3", price="300")
    school.package(lesson["student"], lesson["course"], hours="20", price="2000", valid_until="2027-03-10")
    result = run_cli(app, "jobs", "run", "education:remind_hours", "--at", "2027-03-01T00:00:00")
    assert result.exit_code == 0, result.output
    sent = events(client, admin_headers, "hours.low")
    assert sorted((e["reason"], e["balance"]) for e in sent) == [
        ("expiring", "20.00"),
        ("low_balance", "3.00"),
    ]
    assert [e["package_id"] for e in sent if e["reason"] == "low_balance"] == [low["id"]]
    run_cli(app, "jobs", "run", "education:remind_hours", "--at", "2027-03-02T00:00:00")
    assert len(events(client, admin_headers, "hours.low")) == 2


def test_a_session_with_roll_call_is_never_deleted_and_cancelled_only_once_given_back(
    client, admin_headers, school, lesson
):
    school.package(lesson["student"], lesson["course"])
    call(client, admin_headers, lesson["session"], lesson["student"], "present")
    r = client.delete(f"{E}/sessions/{lesson['session']}", headers=admin_headers)
    assert r.status_code == 409, r.get_json()
    cancel = {"status": "cancelled"}
    r = client.patch(f"{E}/sessions/{lesson['session']}", json=cancel, headers=admin_headers)
    assert r.status_code == 409 and "status" in r.get_json()["errors"]  # hours were consumed there
    call(client, admin_headers, lesson["session"], lesson["student"], "absent")  # gives them back
    ok(client.patch(f"{E}/sessions/{lesson['session']}", json=cancel, headers=admin_headers))
    assert balance(client, admin_headers, lesson["student"]) == "10.00"


def test_prepaid_hours_are_capped(client, admin_headers, school, lesson):
    body = {
        "customer_id": lesson["student"],
        "course_id": lesson["course"],
        "hours": "61",
        "price": "6100",
        "valid_from": "2027-01-01",
    }
    r = client.post(f"{E}/packages", json=body, headers={**admin_headers, "Accept-Language": "zh-CN"})
    assert r.status_code == 422 and "hours" in r.get_json()["errors"], r.get_json()
    assert r.get_json()["errors"]["hours"] == ["超过 60 课时。"]
    school.package(lesson["student"], lesson["course"], hours="60", price="6000")
