"""Attachment metadata (file names and descriptions say what was examined) is sealed like the
clinical texts: the core's encrypted custom field ``attachments``, read back only inside the
treating department, never in an event or audit image (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from medical_testlib import M, register_patient, write_record

SCAN = {
    "name": "hiv-western-blot-2027-03.pdf",
    "description": "HIV confirmation",
    "content_type": "application/pdf",
    "size": 183211,
    "sha256": "a" * 64,
}


def test_attachment_metadata_is_sealed_and_read_only_inside_the_department(client, admin_headers, clinic, db):
    doctor = clinic.staff[("internal", "medical_doctor")]
    patient = register_patient(client, doctor, admin_headers=admin_headers)
    record = write_record(client, doctor, patient, attachments=[SCAN])
    assert json.loads(record["custom"]["attachments"]) == [SCAN] and "attachments" in record["custom"]
    stored = db.execute_sql(f"SELECT custom FROM medical_record WHERE id = {int(record['id'])}").fetchone()[0]
    assert "hiv" not in str(stored).lower() and "western" not in str(stored)
    read = client.get(f"{M}/records/{record['id']}", headers=clinic.staff[("internal", "medical_nurse")])
    assert json.loads(read.get_json()["custom"]["attachments"])[0]["name"] == SCAN["name"]
    assert (
        client.get(
            f"{M}/records/{record['id']}", headers=clinic.staff[("surgery", "medical_doctor")]
        ).status_code
        == 404
    )
    # a change is a new revision; the metadata may also be given as its JSON text in custom
    second = {**SCAN, "name": "cd4-count.pdf", "description": "CD4"}
    r = client.patch(
        f"{M}/records/{record['id']}",
        json={"custom": {"attachments": json.dumps([SCAN, second])}},
        headers=doctor,
    )
    assert r.status_code == 200 and r.get_json()["revision"] == 2
    assert [a["name"] for a in json.loads(r.get_json()["custom"]["attachments"])] == [
        SCAN["name"],
        "cd4-count.pdf",
    ]
    r = client.patch(f"{M}/records/{record['id']}", json={"attachments": [second]}, headers=doctor)
    assert r.status_code == 200 and json.loads(r.get_json()["custom"]["attachments"]) == [second]
    images = str(
        client.get("/api/v1/audit", query_string={"page_size": 100}, headers=admin_headers).get_json()
    )
    images += str(
        client.get("/api/v1/events", query_string={"page_size": 100}, headers=admin_headers).get_json()
    )
    assert "western-blot" not in images and "cd4-count" not in images and "HIV confirmation" not in images


def test_bad_metadata_is_refused_per_field(client, admin_headers, clinic):
    doctor = clinic.staff[("internal", "medical_doctor")]
    patient = register_patient(client, doctor, admin_headers=admin_headers)
    r = client.post(
        f"{M}/records", json={"customer_id": patient, "attachments": [{"size": -1}]}, headers=doctor
    )
    assert r.status_code == 422 and "attachments" in r.get_json()["errors"]
    r = client.post(
        f"{M}/records",
        json={"customer_id": patient, "custom": {"attachments": "not json"}},
        headers={**doctor, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 422 and r.get_json()["errors"] == {
        "custom.attachments": ["应为文件的JSON列表，每个文件须有名称。"]
    }
