"""Patients: the resident ID number is checked (MOD 11-2), encrypted, found by its blind index,
and masked for the front desk (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from crm_medical import identity
from hypothesis import given
from hypothesis import strategies as st
from medical_testlib import VALID_IDS, register_patient


@pytest.mark.parametrize("value", VALID_IDS)
def test_valid_numbers_pass(value):
    assert identity.problems(value) == []


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("11010519491231002x", "upper case"),
        ("110105194912310021", "check character"),
        ("1101051949123100", "18 characters"),
        ("11010519491331002X", "birth date"),  # month 13
        ("110105218001010012", "out of range"),  # born in 2180
        ("11010519491231002Y", "18 characters"),
        (110105194912310021, "text"),
    ],
)
def test_invalid_numbers_say_why(value, says):
    problems = identity.problems(value)
    assert len(problems) == 1 and says in problems[0]


@given(
    area=st.integers(110000, 659999),
    born=st.dates(dt.date(1900, 1, 1), dt.date(2020, 12, 31)),
    seq=st.integers(0, 999),
)
def test_any_number_with_its_computed_check_passes_and_one_typo_fails(area, born, seq):
    first17 = f"{area:06d}{born:%Y%m%d}{seq:03d}"
    number = first17 + identity.check_character(first17)
    assert identity.is_valid(number)
    assert identity.birth_date(number) == born
    assert identity.gender(number) == ("male" if seq % 2 else "female")
    # MOD 11-2 catches every single-digit substitution
    for position in range(17):
        digit = int(number[position])
        typo = number[:position] + str((digit + 1) % 10) + number[position + 1 :]
        assert not identity.is_valid(typo)


def test_a_mistyped_id_is_refused_per_field_and_nothing_is_stored(client, admin_headers):
    body = {"name": "李四", "custom": {"resident_id_number": "110105194912310021"}}
    r = client.post("/api/v1/customers", json=body, headers=admin_headers)
    assert r.status_code == 422, r.get_json()
    assert "check character" in r.get_json()["errors"]["custom.resident_id_number"][0]
    assert client.get("/api/v1/customers?q=李四", headers=admin_headers).get_json() == []


def test_an_update_is_checked_too(client, admin_headers):
    patient = register_patient(client, admin_headers, consent=False)
    r = client.patch(
        f"/api/v1/customers/{patient}",
        json={"custom": {"resident_id_number": "11010519491231002x"}},
        headers=admin_headers,
    )
    assert r.status_code == 422 and "upper case" in r.get_json()["errors"]["custom.resident_id_number"][0]
    got = client.get(f"/api/v1/customers/{patient}", headers=admin_headers).get_json()
    assert got["custom"]["resident_id_number"] == VALID_IDS[0]


def test_the_id_is_encrypted_at_rest_and_found_by_blind_index(client, admin_headers, db):
    patient = register_patient(client, admin_headers, consent=False)
    register_patient(client, admin_headers, name="王五", id_number=VALID_IDS[1], consent=False)
    stored = db.execute_sql(f"SELECT custom FROM customer WHERE id = {int(patient)}").fetchone()[0]
    assert VALID_IDS[0] not in str(stored) and "penicillin" not in str(stored)
    found = client.get(f"/api/v1/customers?resident_id_number={VALID_IDS[0]}", headers=admin_headers)
    assert [c["id"] for c in found.get_json()] == [patient]


def test_front_desk_sees_id_6_4_and_phone_3_4_doctors_see_them_whole(client, admin_headers, clinic):
    dept = clinic.departments["internal"]
    patient = register_patient(
        client, clinic.staff[("internal", "medical_doctor")], admin_headers=admin_headers
    )
    desk = client.get(
        f"/api/v1/customers/{patient}", headers=clinic.staff[("internal", "medical_front_desk")]
    )
    assert desk.status_code == 200, desk.get_json()
    seen = desk.get_json()
    assert seen["custom"]["resident_id_number"] == "110105********002X"
    assert seen["phone"].startswith("+86 138****") and seen["phone"][-4:].isdigit()
    assert "allergies" not in seen["custom"]
    doctor = client.get(f"/api/v1/customers/{patient}", headers=clinic.staff[("internal", "medical_doctor")])
    assert doctor.get_json()["custom"]["resident_id_number"] == VALID_IDS[0]
    assert doctor.get_json()["phone"].startswith("+86138") and "*" not in doctor.get_json()["phone"]
    assert doctor.get_json()["department_id"] == dept


def test_the_front_desk_registers_a_patient_typing_the_fields_it_then_sees_masked(
    client, admin_headers, clinic
):
    desk = clinic.staff[("internal", "medical_front_desk")]
    body = {"name": "王芳", "phone": "+8613912345678", "custom": {"resident_id_number": VALID_IDS[1]}}
    r = client.post("/api/v1/customers", json=body, headers=desk)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["custom"]["resident_id_number"] == "440524********0014"
    assert r.get_json()["phone"] == "+86 139****5678"
    # a typo is caught by the checksum for the desk too, per field
    r = client.patch(
        f"/api/v1/customers/{r.get_json()['id']}",
        json={"custom": {"resident_id_number": "440524188001010015"}},
        headers=desk,
    )
    assert r.status_code == 422 and "custom.resident_id_number" in r.get_json()["errors"]
    doctor = clinic.staff[("internal", "medical_doctor")]
    whole = client.get(f"/api/v1/customers/{r.request.path.rsplit('/', 1)[1]}", headers=doctor).get_json()
    assert whole["custom"]["resident_id_number"] == VALID_IDS[1] and whole["phone"] == "+8613912345678"
    # the allergies stay hidden, so not written by the desk either
    r = client.post("/api/v1/customers", json={"name": "赵六", "custom": {"allergies": "无"}}, headers=desk)
    assert r.status_code == 403 and "allergies" in r.get_json()["errors"]


def test_the_errors_speak_chinese(client, admin_headers):
    body = {"name": "李四", "custom": {"resident_id_number": "110105194912310021"}}
    r = client.post("/api/v1/customers", json=body, headers={**admin_headers, "Accept-Language": "zh-CN"})
    assert r.status_code == 422
    assert r.get_json()["errors"]["custom.resident_id_number"] == ["校验码（最后一位）不符：号码有误。"]


def test_the_catalogue_is_complete():
    package = Path(__file__).resolve().parents[1] / "crm_medical"
    result = subprocess.run(
        [sys.executable, "-m", "crm_core.web.catalogs", "check", str(package)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
