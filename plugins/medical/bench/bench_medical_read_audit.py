#!/usr/bin/env python3
"""The cost of the read audit on PostgreSQL: a medical record's detail read with its audit entry
against the same read without it.

Builds a scratch database, a department with a doctor, P patients with R records each (clinical
texts encrypted), then times ``GET /api/v1/medical/records/<id>`` in-process (the Flask test
client: no HTTP stack, so the ratio is the audit's share of the app's own work) twice: as the
plugin ships it (one sealed audit entry per read) and with the records collection's audit step
switched off for the measurement only. Prints the medians and the ratio, and the same for a
100-row list page.

    .venv/bin/python plugins/medical/bench/bench_medical_read_audit.py [--patients 200] [--records 5]
        [--repeat 300] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import httpload  # noqa: E402

from crm_core.testing import TEST_SECRET_KEY, migrate_url, scratch_database, user_with_token  # noqa: E402


def main() -> None:
    """Run the measurement (see the module)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--records", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    # why here: the app and the plugin come after sys.path is set and the database exists
    from crm_medical.api import records_crud

    from crm_core.app import create_app

    with scratch_database(args.pg_url, "bench_medical") as url:
        migrate_url(url)
        # rate limits off: the bench is one user calling one endpoint far above 300 a minute
        config = {
            "DATABASE_URL": url,
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET_KEY,
            "RATELIMIT_ENABLED": False,
        }
        app = create_app(config)
        client = app.test_client()
        with app.app_context():
            _, admin = user_with_token("bench_admin")
            dept = client.post("/api/v1/departments", json={"name": "internal"}, headers=admin).get_json()[
                "id"
            ]
            _, doctor = user_with_token("bench_doctor", roles=("medical_doctor",), department_id=dept)
        ids = []
        for p in range(args.patients):
            r = client.post("/api/v1/customers", json={"name": f"patient {p}"}, headers=doctor)
            patient = r.get_json()["id"]
            client.post(
                f"/api/v1/customers/{patient}/consents",
                json={"purpose": "treatment", "status": "given"},
                headers=admin,
            )
            for v in range(args.records):
                body = {
                    "customer_id": patient,
                    "visit_no": f"MZ{p:05d}{v}",
                    "custom": {
                        "complaint": "cough for a week",
                        "diagnosis": f"bronchitis {v}",
                        "prescriptions": "rest",
                    },
                }
                r = client.post("/api/v1/medical/records", json=body, headers=doctor)
                assert r.status_code == 201, r.get_json()
                ids.append(r.get_json()["id"])
        rng = random.Random(7)

        def detail():
            r = client.get(f"/api/v1/medical/records/{rng.choice(ids)}", headers=doctor)
            assert r.status_code == 200

        def page():
            assert client.get("/api/v1/medical/records?page_size=100", headers=doctor).status_code == 200

        audited = {
            "detail": httpload.timed(detail, args.repeat),
            "list": httpload.timed(page, args.repeat // 5),
        }
        records_crud.prefetch = None  # the audit step off, for this measurement only
        plain = {
            "detail": httpload.timed(detail, args.repeat),
            "list": httpload.timed(page, args.repeat // 5),
        }
        for name in ("detail", "list"):
            print(
                f"{name:<7} audited {audited[name]:7.2f} ms   without audit {plain[name]:7.2f} ms   "
                f"ratio {audited[name] / plain[name]:.2f}"
            )


if __name__ == "__main__":
    main()
