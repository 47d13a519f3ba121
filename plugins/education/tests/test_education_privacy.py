"""The privacy export holds what the school stores about a student; erasure deletes the notes
about them and keeps the fee records (SQLite and PostgreSQL)."""

from __future__ import annotations

from education_testlib import MONDAY, E, ok, utc


def test_export_and_erase(client, admin_headers, school):
    h = admin_headers
    course = school.course()
    klass = school.klass(course, None, None)
    session = school.session(klass, utc(MONDAY, 1), utc(MONDAY, 2))["id"]
    student = school.student("Zhao Xiaoming")
    trial = school.post("/trials", {"customer_id": student, "kind": "class_session", "session_id": session})
    ok(client.post(f"{E}/trials/{trial['id']}/feedback", json={"feedback": "Shy, mother worried"}, headers=h))
    school.post("/followups", {"customer_id": student, "content": "Father prefers WeChat"})
    ok(client.post(f"{E}/trials/{trial['id']}/convert", json={"class_id": klass}, headers=h))
    school.package(student, course, hours="4", price="400")

    export = ok(client.get(f"/api/v1/customers/{student}/privacy-export", headers=h))["plugins"]["education"]
    assert [e["class_id"] for e in export["enrolments"]] == [klass]
    assert export["packages"][0]["balance"] == "4.00" and [e["kind"] for e in export["hours"]] == ["purchase"]
    assert export["trials"][0]["feedback"] == "Shy, mother worried"
    assert [f["content"] for f in export["followups"]] == ["Father prefers WeChat"]

    assert client.post(f"/api/v1/customers/{student}/erase", headers=h).status_code == 200
    export = ok(client.get(f"/api/v1/customers/{student}/privacy-export", headers=h))["plugins"]["education"]
    assert export["followups"] == [] and export["trials"][0]["feedback"] == ""
    assert export["packages"][0]["balance"] == "4.00"  # the fee record stays
