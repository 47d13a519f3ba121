"""Break-glass: a clinician outside the department opens a patient's records with a reason;
time-boxed, audited as a FHIR AuditEvent (BTG), announced to the head, reviewed (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from crm_medical.models import BreakGlass, Reauth
from medical_testlib import M, read_audit, register_patient, write_record

from crm_core.testing import TEST_PASSWORD, deliver_events, run_cli

REASON = {
    "reason_code": "ETREAT",
    "reason": "Unconscious in the emergency room, allergies unknown",
    "password": TEST_PASSWORD,
}


def _psychiatric_record(client, admin_headers, clinic):
    doctor = clinic.staff[("psychiatry", "medical_doctor")]
    patient = register_patient(client, doctor, admin_headers=admin_headers)
    return patient, write_record(client, doctor, patient, diagnosis="Bipolar disorder")


def _open(client, headers, patient, **extra):
    return client.post(f"{M}/break-glass", json={"customer_id": patient, **REASON, **extra}, headers=headers)


def test_break_glass_opens_the_records_to_read_for_a_while(client, admin_headers, clinic, app):
    patient, record = _psychiatric_record(client, admin_headers, clinic)
    surgeon = clinic.staff[("surgery", "medical_doctor")]
    assert client.get(f"{M}/records/{record['id']}", headers=surgeon).status_code == 404
    r = _open(client, surgeon, patient)
    assert r.status_code == 201, r.get_json()
    [grant] = r.get_json()
    assert grant["department_id"] == clinic.departments["psychiatry"] and grant["active"]
    hours = dt.datetime.fromisoformat(grant["expires_at"]) - dt.datetime.fromisoformat(grant["started_at"])
    assert hours == dt.timedelta(hours=app.config["MEDICAL_BREAK_GLASS_HOURS"])
    seen = client.get(f"{M}/break-glass/{grant['id']}/records", headers=surgeon)
    assert seen.status_code == 200, seen.get_json()
    assert [r["custom"]["diagnosis"] for r in seen.get_json()] == ["Bipolar disorder"]
    # through the grant only: the collection stays closed, and nothing is written or taken away
    assert client.get(f"{M}/records/{record['id']}", headers=surgeon).status_code == 404
    r = client.patch(f"{M}/records/{record['id']}", json={"visit_no": "X"}, headers=surgeon)
    assert r.status_code in (403, 404)
    export = client.get(f"{M}/records/export", headers=surgeon).get_data(as_text=True)
    assert "Bipolar" not in export
    # nobody else reads through the surgeon's grant, not even the head who reviews it
    head = clinic.staff[("psychiatry", "medical_department_head")]
    assert client.get(f"{M}/break-glass/{grant['id']}/records", headers=head).status_code == 403
    # the read under the grant is audited as BTG with its grant
    entry = read_audit(client, admin_headers)[-1]
    assert entry["after"]["purpose"] == "BTG"
    assert entry["after"]["break_glass"] == {"records": [record["id"]], "grants": [grant["id"]]}


def test_the_grant_expires(client, admin_headers, clinic, db):
    patient, record = _psychiatric_record(client, admin_headers, clinic)
    surgeon = clinic.staff[("surgery", "medical_doctor")]
    [grant] = _open(client, surgeon, patient).get_json()
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=1)
    BreakGlass.update(expires_at=past).where(BreakGlass.id == grant["id"]).execute()
    r = client.get(f"{M}/break-glass/{grant['id']}/records", headers=surgeon)
    assert r.status_code == 410 and "expired" in r.get_json()["message"]


def test_the_start_and_stop_are_audited_like_fhir_audit_events(client, admin_headers, clinic, app):
    patient, _record = _psychiatric_record(client, admin_headers, clinic)
    surgeon = clinic.staff[("surgery", "medical_nurse")]
    [grant] = _open(client, surgeon, patient).get_json()
    entries = client.get(
        "/api/v1/audit",
        query_string={"resource": "medical.break_glass", "action": "break_glass"},
        headers=admin_headers,
    ).get_json()
    [entry] = entries
    event = entry["after"]
    assert event["resourceType"] == "AuditEvent" and event["action"] == "E"
    assert event["type"]["code"] == "110113" and event["subtype"][0]["code"] == "110127"
    assert [c["coding"][0]["code"] for c in event["purposeOfEvent"]] == ["BTG", "ETREAT"]
    assert event["purposeOfEvent"][1]["text"] == REASON["reason"]
    assert (
        event["agent"][0]["who"]["reference"] == f"Practitioner/{clinic.users[('surgery', 'medical_nurse')]}"
    )
    assert event["entity"][0]["what"]["reference"] == f"Patient/{patient}"
    assert entry["record_id"] == str(grant["id"])
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S")
    result = run_cli(app, "jobs", "run", "medical:break_glass_stop", "--at", later)
    assert result.exit_code == 0, result.output
    stops = client.get(
        "/api/v1/audit",
        query_string={"resource": "medical.break_glass", "action": "break_glass_stop"},
        headers=admin_headers,
    ).get_json()
    assert [s["after"]["subtype"][0]["code"] for s in stops] == ["110138"]
    run_cli(app, "jobs", "run", "medical:break_glass_stop", "--at", later)  # once only
    assert (
        len(
            client.get(
                "/api/v1/audit", query_string={"action": "break_glass_stop"}, headers=admin_headers
            ).get_json()
        )
        == 1
    )


def test_the_head_is_notified_and_reviews_it(client, admin_headers, clinic):
    patient, _record = _psychiatric_record(client, admin_headers, clinic)
    surgeon = clinic.staff[("surgery", "medical_doctor")]
    [grant] = _open(client, surgeon, patient).get_json()
    head = clinic.staff[("psychiatry", "medical_department_head")]
    events = client.get("/api/v1/events", query_string={"type": "medical.break_glass.opened"}, headers=head)
    assert events.status_code == 200, events.get_json()
    [event] = [e for e in events.get_json() if e["type"] == "medical.break_glass.opened"]
    assert event["data"]["notify"] == [clinic.users[("psychiatry", "medical_department_head")]]
    assert event["data"]["customer_id"] == patient and "reason" not in event["data"]
    # the other departments' heads see neither the event nor the queue entry
    other = clinic.staff[("internal", "medical_department_head")]
    [hidden] = [
        e
        for e in client.get("/api/v1/events", headers=other).get_json()
        if e["type"] == "medical.break_glass.opened"
    ]
    assert set(hidden["data"]) <= {"id"}  # the feed keeps its rows, not their data
    assert client.get(f"{M}/break-glass", headers=other).get_json() == []
    queue = client.get(f"{M}/break-glass?reviewed=false", headers=head).get_json()
    assert [g["id"] for g in queue] == [grant["id"]] and queue[0]["reason"] == REASON["reason"]
    # the clinician sees their own, may not review it
    assert [g["id"] for g in client.get(f"{M}/break-glass", headers=surgeon).get_json()] == [grant["id"]]
    r = client.post(f"{M}/break-glass/{grant['id']}/review", json={"decision": "justified"}, headers=surgeon)
    assert r.status_code == 403
    r = client.post(
        f"{M}/break-glass/{grant['id']}/review",
        json={"decision": "justified", "note": "ER admission"},
        headers=head,
    )
    assert r.status_code == 200 and r.get_json()["decision"] == "justified"
    assert r.get_json()["reviewed_by_id"] == clinic.users[("psychiatry", "medical_department_head")]
    assert client.get(f"{M}/break-glass?reviewed=false", headers=head).get_json() == []
    again = client.post(
        f"{M}/break-glass/{grant['id']}/review", json={"decision": "unjustified"}, headers=head
    )
    assert again.status_code == 409
    assert deliver_events() >= 1  # the event reaches other plugins' crm_event


def test_what_break_glass_refuses(client, admin_headers, clinic):
    patient, _record = _psychiatric_record(client, admin_headers, clinic)
    desk = clinic.staff[("surgery", "medical_front_desk")]
    assert _open(client, desk, patient).status_code == 403  # no clinician
    own = clinic.staff[("psychiatry", "medical_doctor")]
    assert _open(client, own, patient).status_code == 409  # nothing outside their department
    surgeon = clinic.staff[("surgery", "medical_doctor")]
    r = client.post(
        f"{M}/break-glass",
        json={"customer_id": patient, "reason_code": "ETREAT", "reason": "x"},
        headers=surgeon,
    )
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    r = client.post(
        f"{M}/break-glass",
        json={"customer_id": patient, "reason_code": "WHIM", "reason": REASON["reason"]},
        headers=surgeon,
    )
    assert r.status_code == 422 and "reason_code" in r.get_json()["errors"]
    assert _open(client, surgeon, 999999).status_code == 404


def test_breaking_the_glass_asks_the_password_again(client, admin_headers, clinic, app):
    patient, _record = _psychiatric_record(client, admin_headers, clinic)
    surgeon = clinic.staff[("surgery", "medical_doctor")]
    body = {"customer_id": patient, "reason_code": "ETREAT", "reason": REASON["reason"]}
    missing = client.post(f"{M}/break-glass", json=body, headers={**surgeon, "Accept-Language": "zh-CN"})
    assert missing.status_code == 403 and missing.get_json()["errors"]["password"] == ["需要输入您的密码。"]
    assert missing.get_json()["message"] == "破窗前请再次输入您的密码。"
    wrong = client.post(f"{M}/break-glass", json={**body, "password": "not-it-0"}, headers=surgeon)
    assert wrong.status_code == 403 and wrong.get_json()["errors"] == {
        "password": ["This is not your password."]
    }
    failed = client.get(
        "/api/v1/audit", query_string={"action": "login_failed", "resource": "users"}, headers=admin_headers
    ).get_json()
    assert [e["record_id"] for e in failed] == [str(clinic.users[("surgery", "medical_doctor")])]
    assert client.get(f"{M}/break-glass", headers=surgeon).get_json() == []  # nothing opened
    # within MEDICAL_BREAK_GLASS_REAUTH_MINUTES of a typed password the next one does not ask
    assert _open(client, surgeon, patient).status_code == 201
    assert client.post(f"{M}/break-glass", json=body, headers=surgeon).status_code == 403  # 0: every time
    app.config["MEDICAL_BREAK_GLASS_REAUTH_MINUTES"] = 15
    again = client.post(f"{M}/break-glass", json=body, headers=surgeon)
    assert again.status_code == 201, again.get_json()
    starts = client.get(
        "/api/v1/audit",
        query_string={"resource": "medical.break_glass", "action": "break_glass"},
        headers=admin_headers,
    ).get_json()
    assert sorted(e["after"]["reauthentication"] for e in starts) == ["password", "recent"]
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=16)
    Reauth.update(confirmed_at=past).execute()
    assert client.post(f"{M}/break-glass", json=body, headers=surgeon).status_code == 403
