"""Benchmark: what medical's read audit costs on PostgreSQL. A medical record's detail read, and a
100-row list page, with their audit entries, against the same reads with the collection's audit
step switched off for the measurement only, in one run on the same data. In process (the Flask
test client), so the ratio is the audit's share of the app's own work.

    .venv/bin/python bench/bench_medical_read_audit.py                           # 100 x 5 records
    .venv/bin/python bench/bench_medical_read_audit.py --patients 10 --repeat 20   # a quick look

A doctor registers the patients (with their treatment consent, recorded by an admin) and writes
their records through the API; the doctor then reads them. Prints the medians and the ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpload  # noqa: E402  (bench/ on the path: run as a script)

from crm_core.testing import scratch_database  # noqa: E402

M = "/api/v1/medical"


def post(client, path: str, body: dict, headers: dict) -> dict:
    r = client.post(path, json=body, headers=headers)
    assert r.status_code == 201, (path, r.status_code, r.get_json())
    return r.get_json()


def seed(client, admin: dict, doctor: dict, patients: int, records: int) -> list[int]:
    """``patients`` patients of the doctor's department with ``records`` records each; the ids."""
    ids = []
    for p in range(patients):
        body = {
            "name": f"患者{p}",
            "phone": f"+86138{p:08d}",
            "custom": {"resident_id_number": "11010519491231002X", "allergies": "penicillin"},
        }
        patient = post(client, "/api/v1/customers", body, doctor)["id"]
        consent = {"purpose": "treatment", "status": "given", "source": "paper", "evidence": "form 7"}
        post(client, f"/api/v1/customers/{patient}/consents", consent, admin)
        for v in range(records):
            record = {
                "customer_id": patient,
                "visit_no": f"MZ{p:05d}{v}",
                "custom": {
                    "complaint": "cough for a week",
                    "diagnosis": f"bronchitis {v}",
                    "prescriptions": "rest",
                },
            }
            ids.append(post(client, f"{M}/records", record, doctor)["id"])
    return ids


def run(url: str, args) -> None:
    env = {**os.environ, "CRM_DATABASE_URL": url, "CRM_SECRET_KEY": "bench", "CRM_LOG_LEVEL": "WARNING"}
    crm = str(Path(sys.executable).parent / "crm")
    subprocess.run([crm, "migrate"], env=env, check=True, capture_output=True)
    from crm_medical import api

    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token

    app = create_app({"DATABASE_URL": url, "RATELIMIT_ENABLED": False, "SECRET_KEY": "bench"})
    client = app.test_client()
    tag = uuid.uuid4().hex[:6]
    with app.app_context():
        admin = {
            "Authorization": "Bearer "
            + issue_token(create_user(f"a_{tag}", "Bench-Passw0rd!", roles=["admin"]))[0]
        }
    department = post(client, "/api/v1/departments", {"name": "internal"}, admin)["id"]
    with app.app_context():
        user = create_user(f"d_{tag}", "Bench-Passw0rd!", roles=["medical_doctor"], department_id=department)
        doctor = {"Authorization": "Bearer " + issue_token(user)[0]}
    ids = seed(client, admin, doctor, args.patients, args.records)
    rng = random.Random(7)

    def detail():
        assert client.get(f"{M}/records/{rng.choice(ids)}", headers=doctor).status_code == 200

    def page():
        assert client.get(f"{M}/records?page_size=100", headers=doctor).status_code == 200

    audited = {
        "detail": httpload.timed(detail, args.repeat),
        "list": httpload.timed(page, max(1, args.repeat // 5)),
    }
    audit_step, api.records_crud.prefetch = api.records_crud.prefetch, None  # the audit off
    try:
        plain = {
            "detail": httpload.timed(detail, args.repeat),
            "list": httpload.timed(page, max(1, args.repeat // 5)),
        }
    finally:
        api.records_crud.prefetch = audit_step
    print(f"medical records: {args.patients} patients x {args.records} records, PostgreSQL, in process")
    for name in ("detail", "list"):
        print(
            f"  {name:<7} audited {audited[name]:7.2f} ms   without the audit {plain[name]:7.2f} ms"
            f"   ratio {audited[name] / plain[name]:.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--records", type=int, default=5, help="records per patient")
    parser.add_argument("--repeat", type=int, default=300, help="detail reads measured (list: a fifth)")
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    with scratch_database(args.pg_url, "crm_bench_medical") as url:
        run(url, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
