"""The permission matrix: 3 departments x 4 roles x every read path. No clinical text leaves its
treating department except through a break-glass, and every break-glass is audited (SQLite and
PostgreSQL).

Each department's doctor writes one record whose texts name the department (``DX-surgery``...).
Every reader then walks every read path: the records list, a search, each record's detail, the
export, each patient's timeline, the patient's privacy export; the events feed, the audit log
and a webhook's delivered payloads are read as the admin, the widest reader there is, so what
the admin does not see there nobody does.
"""

from __future__ import annotations

import itertools
import re

import pytest
from medical_testlib import DEPARTMENTS, ROLES, M, read_audit, register_patient

from crm_core.browser_testing import web_login
from crm_core.testing import TEST_PASSWORD, deliver_events

CLINICAL_ROLES = ("medical_doctor", "medical_nurse", "medical_department_head")
TEXT = re.compile(r"(?:DX|RX|CC|TX)-(internal|surgery|psychiatry)")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WEBHOOK_ALLOW_PRIVATE_URLS": True}


@pytest.fixture
def ward(client, admin_headers, clinic):
    """One patient and one record per department, written by its doctor."""
    patients, records = {}, {}
    for n, dept in enumerate(DEPARTMENTS):
        doctor = clinic.staff[(dept, "medical_doctor")]
        ids = ("11010519491231002X", "440524188001010014", "110101199003070038")
        patient = register_patient(
            client, doctor, name=f"患者{n}", id_number=ids[n], admin_headers=admin_headers
        )
        body = {
            "customer_id": patient,
            "visit_no": f"MZ-{dept}",
            "custom": {
                "complaint": f"CC-{dept}",
                "diagnosis": f"DX-{dept}",
                "prescriptions": f"RX-{dept}",
                "treatments": f"TX-{dept}",
            },
        }
        r = client.post(f"{M}/records", json=body, headers=doctor)
        assert r.status_code == 201, r.get_json()
        patients[dept], records[dept] = patient, r.get_json()["id"]
    return patients, records


def _seen(response) -> set[str]:
    """The departments whose clinical text a response shows."""
    if response.status_code != 200:
        return set()
    return set(TEXT.findall(response.get_data(as_text=True)))


def _walk(client, headers, patients, records) -> dict[str, set[str]]:
    """Every read path as ``headers``: which departments' clinical texts each one showed."""
    seen = {
        "list": _seen(client.get(f"{M}/records?page_size=100", headers=headers)),
        "search": _seen(client.get(f"{M}/records?q=MZ", headers=headers)),
        "export": _seen(client.get(f"{M}/records/export", headers=headers)),
        "detail": set(),
        "timeline": set(),
        "privacy_export": set(),
        "customer": set(),
    }
    for dept in DEPARTMENTS:
        seen["detail"] |= _seen(client.get(f"{M}/records/{records[dept]}", headers=headers))
        seen["timeline"] |= _seen(client.get(f"{M}/patients/{patients[dept]}/timeline", headers=headers))
        seen["privacy_export"] |= _seen(
            client.get(f"/api/v1/customers/{patients[dept]}/privacy-export", headers=headers)
        )
        seen["customer"] |= _seen(client.get(f"/api/v1/customers/{patients[dept]}", headers=headers))
    return seen


def test_no_clinical_text_leaves_its_department(client, admin_headers, clinic, ward, make_user):
    patients, records = ward
    for dept, role in itertools.product(DEPARTMENTS, ROLES):
        seen = _walk(client, clinic.staff[(dept, role)], patients, records)
        allowed = {dept} if role in CLINICAL_ROLES else set()
        for path, depts in seen.items():
            assert depts <= allowed, f"{role} of {dept} saw {depts} on {path}"
        if role in CLINICAL_ROLES:
            assert seen["list"] == seen["detail"] == seen["timeline"] == {dept}, (dept, role, seen)
    # the admin's grant covers everything, the hospital head's tree covers every department: the
    # isolation rule still holds for both
    director = make_user("director", roles=("medical_department_head",), department_id=clinic.root)[1]
    for who, headers in (("the admin", admin_headers), ("the director", director)):
        for path, depts in _walk(client, headers, patients, records).items():
            assert depts <= set(), f"{who} saw {depts} on {path}"


def test_payloads_and_the_audit_log_carry_no_clinical_text(client, admin_headers, clinic, ward):
    patients, records = ward
    r = client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]}, headers=admin_headers
    )
    assert r.status_code == 201, r.get_json()
    hook = r.get_json()["id"]
    doctor = clinic.staff[("surgery", "medical_doctor")]
    r = client.patch(
        f"{M}/records/{records['surgery']}",
        json={"custom": {"diagnosis": "DX-surgery again"}},
        headers=doctor,
    )
    assert r.status_code == 200
    assert deliver_events() > 0
    deliveries = client.get(
        f"/api/v1/webhooks/{hook}/deliveries?page_size=100", headers=admin_headers
    ).get_json()
    assert any("medical" in d["event_type"] for d in deliveries), deliveries
    for d in deliveries:
        detail = client.get(f"/api/v1/webhooks/{hook}/deliveries/{d['id']}", headers=admin_headers)
        assert not _seen(detail), detail.get_json()["payload"]
    assert not _seen(client.get("/api/v1/events?page_size=200", headers=admin_headers))
    assert not _seen(client.get("/api/v1/audit?page_size=200", headers=admin_headers))
    head = clinic.staff[("surgery", "medical_department_head")]
    assert not _seen(client.get("/api/v1/events?page_size=200", headers=head))
    assert not _seen(client.get("/api/v1/audit?page_size=200", headers=head))


def test_break_glass_is_the_one_way_out_and_each_is_audited(client, admin_headers, clinic, ward):
    patients, records = ward
    grants = []
    for reader_dept, role in itertools.product(DEPARTMENTS, CLINICAL_ROLES):
        target = next(d for d in DEPARTMENTS if d != reader_dept)
        headers = clinic.staff[(reader_dept, role)]
        body = {
            "customer_id": patients[target],
            "reason_code": "ETREAT",
            "reason": f"emergency cover by {role}",
            "password": TEST_PASSWORD,
        }
        r = client.post(f"{M}/break-glass", json=body, headers=headers)
        assert r.status_code == 201, r.get_json()
        [grant] = r.get_json()
        grants.append(grant["id"])
        opened = client.get(f"{M}/break-glass/{grant['id']}/records", headers=headers)
        assert _seen(opened) == {target}
        # every other path stays as closed as before
        for path, depts in _walk(client, headers, patients, records).items():
            assert depts <= {reader_dept}, (
                f"{role} of {reader_dept} saw {depts} on {path} after a break-glass"
            )
    # the front desk cannot break the glass
    for dept in DEPARTMENTS:
        desk = clinic.staff[(dept, "medical_front_desk")]
        target = next(d for d in DEPARTMENTS if d != dept)
        body = {"customer_id": patients[target], "reason_code": "ETREAT", "reason": "I would like to look"}
        assert client.post(f"{M}/break-glass", json=body, headers=desk).status_code == 403
    started = client.get(
        "/api/v1/audit",
        query_string={"resource": "medical.break_glass", "action": "break_glass", "page_size": 100},
        headers=admin_headers,
    ).get_json()
    assert sorted(int(e["record_id"]) for e in started) == sorted(grants)
    reads = client.get(
        "/api/v1/audit",
        query_string={"resource": "medical.records", "kind": "read", "page_size": 200},
        headers=admin_headers,
    ).get_json()
    btg = [e for e in reads if e["after"]["purpose"] == "BTG"]
    assert sorted(g for e in btg for g in e["after"]["break_glass"]["grants"]) == sorted(grants)


def test_the_workbench_pages_follow_the_same_rule_and_are_audited(app, client, admin_headers, clinic, ward):
    patients, records = ward
    before = len(read_audit(client, admin_headers))
    clinical_reads = 0
    for dept, role in itertools.product(DEPARTMENTS, ROLES):
        browser = app.test_client()
        assert web_login(browser, f"{dept}_{role}").status_code == 302
        listed = browser.get("/records/medical.records/")
        assert listed.status_code == (200 if role in CLINICAL_ROLES else 403), (
            dept,
            role,
            listed.status_code,
        )
        seen = _seen(listed)
        seen |= _seen(browser.get("/records/medical.records/export.csv"))
        for other in DEPARTMENTS:
            seen |= _seen(browser.get(f"/records/medical.records/{records[other]}"))
        allowed = {dept} if role in CLINICAL_ROLES else set()
        assert seen <= allowed and (seen == allowed), f"{role} of {dept} saw {seen} in the workbench"
        # list, export (not the nurse: no export grant), their own detail
        clinical_reads += {"medical_doctor": 3, "medical_nurse": 2, "medical_department_head": 3}.get(role, 0)
    # the core audits the export itself as well (action ``export``, its filter and row count)
    entries = [e for e in read_audit(client, admin_headers)[before:] if e["action"] == "read"]
    assert len(entries) == clinical_reads, [(e["actor_id"], e["after"]["path"]) for e in entries]
    assert {e["after"]["path"] for e in entries} == {"list", "export", "detail"}
