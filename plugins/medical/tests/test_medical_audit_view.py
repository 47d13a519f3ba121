"""A patient's read-audit screen: who read which of their records, when, how and why, the
break-glass reads marked, paginated, for the roles that read the audit log only (SQLite and
PostgreSQL)."""

from __future__ import annotations

import re

from medical_testlib import M, register_patient, write_record

from crm_core.browser_testing import web_login
from crm_core.testing import TEST_PASSWORD


def _browser(app, username, lang="en"):
    browser = app.test_client()
    assert web_login(browser, username).status_code == 302
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    return browser


def _rows(page: str) -> list[tuple[str, str, str]]:
    """(entry id, break-glass yes/no, record ids) of each row."""
    found = re.findall(
        r'<tr data-entry="(\d+)" data-break-glass="(yes|no)".*?data-records="([\d,]*)"', page, re.S
    )
    return [(entry, glass, records) for entry, glass, records in found]


def test_the_head_sees_who_read_the_patient_with_break_glass_marked(app, client, admin_headers, clinic):
    doctor = clinic.staff[("psychiatry", "medical_doctor")]
    patient = register_patient(client, doctor, admin_headers=admin_headers)
    other = register_patient(client, doctor, name="李四", admin_headers=admin_headers)
    mine = write_record(client, doctor, patient)["id"]
    theirs = write_record(client, doctor, other)["id"]
    assert client.get(f"{M}/records/{mine}", headers=doctor).status_code == 200  # detail: the patient
    assert client.get(f"{M}/records", headers=doctor).status_code == 200  # a list naming both
    surgeon = clinic.staff[("surgery", "medical_doctor")]
    body = {
        "customer_id": patient,
        "reason_code": "ETREAT",
        "reason": "Unconscious in the ER",
        "password": TEST_PASSWORD,
    }
    [grant] = client.post(f"{M}/break-glass", json=body, headers=surgeon).get_json()
    assert client.get(f"{M}/break-glass/{grant['id']}/records", headers=surgeon).status_code == 200

    head = _browser(app, "psychiatry_medical_department_head", "zh-CN")
    r = head.get(f"/medical/patients/{patient}/audit")
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page[-2000:]
    rows = _rows(page)
    # newest first: the break-glass read, the list (only this patient's record), the detail
    assert [(glass, records) for _e, glass, records in rows] == [
        ("yes", str(mine)),
        ("no", str(mine)),
        ("no", str(mine)),
    ]
    assert "破窗" in page and "surgery_medical_doctor" in page and "读取审计" in page
    assert "该患者的病历共被读取 3 次。" in page
    assert str(theirs) not in [records for _e, _g, records in rows]
    # the other patient's audit shows the list read, not the detail or the break-glass
    assert [
        records
        for _e, _g, records in _rows(head.get(f"/medical/patients/{other}/audit").get_data(as_text=True))
    ] == [str(theirs)]
    # clinicians do not read the audit log: no page, no link
    nurse = _browser(app, "psychiatry_medical_nurse")
    assert nurse.get(f"/medical/patients/{patient}/audit").status_code == 403
    assert 'id="read-audit-link"' not in nurse.get(f"/medical/patients/{patient}").get_data(as_text=True)
    assert 'id="read-audit-link"' in head.get(f"/medical/patients/{patient}").get_data(as_text=True)
    # another department's head sees none of psychiatry's entries
    other_head = _browser(app, "internal_medical_department_head")
    assert _rows(other_head.get(f"/medical/patients/{patient}/audit").get_data(as_text=True)) == []


def test_the_audit_is_paginated(app, client, admin_headers, clinic, make_user):
    doctor = clinic.staff[("internal", "medical_doctor")]
    patient = register_patient(client, doctor, admin_headers=admin_headers)
    record = write_record(client, doctor, patient)["id"]
    for _ in range(27):
        assert client.get(f"{M}/records/{record}", headers=doctor).status_code == 200
    make_user("audit_admin", roles=("admin",))
    admin = _browser(app, "audit_admin")
    first = admin.get(f"/medical/patients/{patient}/audit").get_data(as_text=True)
    second = admin.get(f"/medical/patients/{patient}/audit?page=2").get_data(as_text=True)
    assert len(_rows(first)) == 25 and len(_rows(second)) == 2 and "Page 2 of 2" in second
    assert not {e for e, _g, _r in _rows(first)} & {e for e, _g, _r in _rows(second)}
    assert 'rel="next"' in first and 'rel="prev"' in second
