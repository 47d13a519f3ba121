"""Helpers of the medical tests: a clinic of three departments with four roles each, patients
registered through the API, records written by each department's doctor."""

from __future__ import annotations

import dataclasses
import itertools

M = "/api/v1/medical"
ROLES = ("medical_doctor", "medical_nurse", "medical_front_desk", "medical_department_head")
DEPARTMENTS = ("internal", "surgery", "psychiatry")
#: valid resident ID numbers (MOD 11-2): the research's worked examples and two computed ones
VALID_IDS = ("11010519491231002X", "440524188001010014", "110101199003070038", "310104198507120424")
CLINICAL = ("complaint", "diagnosis", "prescriptions", "treatments")
_phones = itertools.count(12345678)


@dataclasses.dataclass
class Clinic:
    """Department ids by name, a sub-department of ``internal``, and headers by (dept, role)."""

    departments: dict
    sub_department: int
    root: int
    staff: dict
    users: dict


def make_clinic(client, admin_headers, make_user) -> Clinic:
    """A hospital with ``DEPARTMENTS`` (and ``internal/cardiology`` below internal) and one user
    of each of ``ROLES`` in each department."""
    r = client.post("/api/v1/departments", json={"name": "Hospital"}, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    root = r.get_json()["id"]
    departments = {}
    for name in DEPARTMENTS:
        r = client.post("/api/v1/departments", json={"name": name, "parent_id": root}, headers=admin_headers)
        assert r.status_code == 201, r.get_json()
        departments[name] = r.get_json()["id"]
    r = client.post(
        "/api/v1/departments",
        json={"name": "cardiology", "parent_id": departments["internal"]},
        headers=admin_headers,
    )
    sub = r.get_json()["id"]
    staff, users = {}, {}
    for name, dept in departments.items():
        for role in ROLES:
            user, headers = make_user(f"{name}_{role}", roles=(role,), department_id=dept)
            staff[(name, role)] = headers
            users[(name, role)] = user.id
    return Clinic(departments, sub, root, staff, users)


def register_patient(
    client, headers, name="张三", id_number=VALID_IDS[0], consent=True, admin_headers=None, **extra
):
    """A patient registered by ``headers`` (their department), with treatment consent recorded
    by ``admin_headers`` (consent records need privacy.consents:create)."""
    body = {
        "name": name,
        "phone": f"+86138{next(_phones):08d}",
        "custom": {"resident_id_number": id_number, "allergies": "penicillin"},
        **extra,
    }
    r = client.post("/api/v1/customers", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    patient = r.get_json()["id"]
    if consent:
        give_consent(client, admin_headers or headers, patient, "treatment")
    return patient


def give_consent(client, headers, patient, purpose, status="given"):
    """Record a consent of ``patient`` for ``purpose``."""
    r = client.post(
        f"/api/v1/customers/{patient}/consents",
        json={"purpose": purpose, "status": status, "source": "paper", "evidence": "form 7"},
        headers=headers,
    )
    assert r.status_code == 201, r.get_json()


def write_record(client, headers, patient, diagnosis="Type 2 diabetes", **extra):
    """A medical record by ``headers`` in their own department."""
    body = {
        "customer_id": patient,
        "visit_no": extra.pop("visit_no", "MZ0001"),
        "custom": {
            "complaint": "thirst for three weeks",
            "diagnosis": diagnosis,
            "prescriptions": "metformin 500 mg",
            "treatments": "diet advice",
        },
        **extra,
    }
    r = client.post(f"{M}/records", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def read_audit(client, admin_headers, **params):
    """The read-audit entries of medical records, oldest first."""
    r = client.get(
        "/api/v1/audit",
        query_string={"resource": "medical.records", "kind": "read", "page_size": 100, **params},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.get_json()
    return sorted(r.get_json(), key=lambda e: e["id"])
