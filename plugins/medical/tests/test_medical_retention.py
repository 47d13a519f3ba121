"""Retention: outpatient records 15 years after the patient's last visit, inpatient 30 after
the last discharge; an erasure request is answered with what the law keeps (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from medical_testlib import M, register_patient, write_record

from crm_core.testing import run_cli

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _years_ago(years: float) -> str:
    return (NOW - dt.timedelta(days=round(365.25 * years))).isoformat() + "Z"


def _ids(client, headers):
    return sorted(r["id"] for r in client.get(f"{M}/records?page_size=100", headers=headers).get_json())


def test_records_are_kept_from_the_patients_last_visit(client, admin_headers, clinic, app):
    doctor = clinic.staff[("internal", "medical_doctor")]
    gone = register_patient(client, doctor, admin_headers=admin_headers)
    old = write_record(client, doctor, gone, visit_at=_years_ago(16))["id"]
    back = register_patient(client, doctor, name="李四", admin_headers=admin_headers)
    kept_old = write_record(client, doctor, back, visit_at=_years_ago(20))["id"]
    kept_new = write_record(client, doctor, back, visit_at=_years_ago(1))["id"]
    stay = write_record(
        client, doctor, gone, visit_type="inpatient", visit_at=_years_ago(20), discharged_at=_years_ago(19.9)
    )["id"]
    result = run_cli(app, "retention", "run")
    assert result.exit_code == 0, result.output
    assert "medical.outpatient_records" in result.output
    assert _ids(client, doctor) == sorted([kept_old, kept_new, stay])
    assert old not in _ids(client, doctor)
    # thirty years on, the stay goes too
    later = (NOW + dt.timedelta(days=365 * 11)).isoformat()
    assert run_cli(app, "retention", "run", "--at", later).exit_code == 0
    assert stay not in _ids(client, doctor)


def test_a_setting_below_the_law_is_refused(client, app):
    app.config["MEDICAL_OUTPATIENT_RETENTION_DAYS"] = 365
    try:
        result = run_cli(app, "retention", "status")
        assert "MEDICAL_OUTPATIENT_RETENTION_DAYS" in result.output and "ERROR" in result.output
    finally:
        app.config["MEDICAL_OUTPATIENT_RETENTION_DAYS"] = 15 * 365 + 4


def test_erasure_answers_with_what_the_law_keeps(client, admin_headers, clinic):
    doctor = clinic.staff[("internal", "medical_doctor")]
    patient = register_patient(client, doctor, admin_headers=admin_headers)
    write_record(client, doctor, patient, visit_at=_years_ago(2))
    r = client.post(f"/api/v1/customers/{patient}/erase", headers=admin_headers)
    assert r.status_code == 409, r.get_json()
    body = r.get_json()
    until = (NOW - dt.timedelta(days=round(365.25 * 2)) + dt.timedelta(days=15 * 365 + 4)).date().isoformat()
    assert "kept by law" in body["message"] and until in body["message"]
    assert body["kept"] == {"outpatient": {"records": 1, "until": until}}
    # nothing was erased: the erasure is one transaction
    assert client.get(f"/api/v1/customers/{patient}", headers=admin_headers).get_json()["name"] == "张三"
    assert len(client.get(f"{M}/records", headers=doctor).get_json()) == 1


def test_erasure_after_the_period_deletes_the_medical_data(client, admin_headers, clinic):
    doctor = clinic.staff[("internal", "medical_doctor")]
    patient = register_patient(client, doctor, admin_headers=admin_headers)
    write_record(client, doctor, patient, visit_at=_years_ago(16))
    r = client.post(f"/api/v1/customers/{patient}/erase", headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    assert client.get(f"{M}/records", headers=doctor).get_json() == []


def test_a_privacy_request_fails_saying_why(client, admin_headers, clinic):
    doctor = clinic.staff[("internal", "medical_doctor")]
    patient = register_patient(client, doctor, admin_headers=admin_headers)
    write_record(client, doctor, patient)
    r = client.post(
        "/api/v1/privacy-requests", json={"customer_id": patient, "kind": "erasure"}, headers=admin_headers
    )
    assert r.status_code == 201, r.get_json()
    request_id = r.get_json()["id"]
    r = client.post(f"/api/v1/privacy-requests/{request_id}/process", headers=admin_headers)
    assert r.get_json()["status"] == "failed" and "kept by law" in r.get_json()["error"]
