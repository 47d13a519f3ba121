"""The medical workbench screens in English and Chinese: the patient page under the isolation
rule and masking, the break-glass form, the opened records, the review queue (SQLite and
PostgreSQL)."""

from __future__ import annotations

import pytest
from medical_testlib import read_audit, register_patient, write_record

from crm_core.browser_testing import post_form, web_login
from crm_core.testing import TEST_PASSWORD


@pytest.fixture
def ward(client, admin_headers, clinic):
    doctor = clinic.staff[("psychiatry", "medical_doctor")]
    patient = register_patient(client, doctor, admin_headers=admin_headers)
    write_record(client, doctor, patient, diagnosis="Bipolar disorder")
    return patient


def _browser(app, username, lang="en"):
    browser = app.test_client()
    assert web_login(browser, username).status_code == 302
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    return browser


def test_the_treating_department_sees_the_visit_the_others_a_closed_count(
    app, client, admin_headers, clinic, ward
):
    own = _browser(app, "psychiatry_medical_doctor").get(f"/medical/patients/{ward}")
    assert own.status_code == 200
    page = own.get_data(as_text=True)
    assert "Bipolar disorder" in page and "11010519491231002X" in page and 'id="break-glass"' not in page
    other = _browser(app, "psychiatry_medical_front_desk", "zh-CN").get(f"/medical/patients/{ward}")
    page = other.get_data(as_text=True)
    assert other.status_code == 200 and "Bipolar" not in page
    assert "110105********002X" in page and "penicillin" not in page and "就诊" in page, page[
        page.find("<main") :
    ][:3000]
    assert [e["after"]["path"] for e in read_audit(client, admin_headers)] == ["patient_page"]


def test_break_glass_from_the_page_then_the_queue(app, client, admin_headers, clinic, ward):
    # the surgeon finds the patient (the patient index), not their psychiatric visit
    surgeon = _browser(app, "surgery_medical_doctor", "zh-CN")
    page = surgeon.get(f"/medical/patients/{ward}").get_data(as_text=True)
    assert "Bipolar" not in page and 'id="break-glass"' in page and "破窗" in page
    path = f"/medical/patients/{ward}/break-glass"
    refused = post_form(
        surgeon, path, {"reason_code": "ETREAT", "reason": "x"}, page=f"/medical/patients/{ward}"
    )
    assert refused.status_code == 422 and 'data-field="reason"' in refused.get_data(as_text=True)
    r = post_form(
        surgeon,
        path,
        {"reason_code": "ETREAT", "reason": "急诊昏迷，需了解用药史", "password": TEST_PASSWORD},
        page=f"/medical/patients/{ward}",
    )
    assert r.status_code == 302, r.get_data(as_text=True)[-800:]
    opened = surgeon.get(r.headers["Location"])
    assert opened.status_code == 200 and "Bipolar disorder" in opened.get_data(as_text=True)
    head = _browser(app, "psychiatry_medical_department_head")
    queue = head.get("/medical/break-glass/")
    text = queue.get_data(as_text=True)
    assert queue.status_code == 200 and "急诊昏迷" in text and 'data-reviewed="no"' in text
    grant = text.split('data-grant="')[1].split('"')[0]
    r = post_form(
        head,
        f"/medical/break-glass/{grant}/review",
        {"decision": "justified", "note": "ER"},
        page="/medical/break-glass/",
    )
    assert r.status_code == 302
    assert 'data-decision="justified"' in head.get("/medical/break-glass/").get_data(as_text=True)
    # the clinician sees their own entry and may not review it
    mine = surgeon.get("/medical/break-glass/").get_data(as_text=True)
    assert f'data-grant="{grant}"' in mine and "review-form" not in mine


def test_the_customer_page_shows_the_panel_without_clinical_text(app, client, admin_headers, clinic, ward):
    page = _browser(app, "psychiatry_medical_nurse").get(f"/records/customers/{ward}").get_data(as_text=True)
    assert f"/medical/patients/{ward}" in page and "1 visit you may read" in page and "Bipolar" not in page
