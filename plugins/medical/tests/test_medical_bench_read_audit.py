"""The cost of the read audit on PostgreSQL: a medical record's detail read (and a 100-row list
page) with its audit entry against the same read with the collection's audit step switched off
for the measurement only. In-process (the Flask test client), so the ratio is the audit's share
of the app's own work. Prints the medians; fails if the audit more than triples a read.

    .venv/bin/pytest -q -n 0 -m slow -k postgres -s plugins/medical/tests/test_medical_bench_read_audit.py
"""

from __future__ import annotations

import random
import time

import pytest
from medical_testlib import M, register_patient

from crm_core.plugin_api import is_postgres

pytestmark = pytest.mark.slow

PATIENTS, RECORDS, REPEAT = 100, 5, 300


@pytest.fixture
def app_config(app_config):
    # one user calls one endpoint far above the per-endpoint limit
    return {**app_config, "RATELIMIT_ENABLED": False}


def _median_ms(func, repeat: int) -> float:
    func()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return sorted(samples)[len(samples) // 2]


def test_the_read_audit_costs_less_than_the_read_twice_over(client, admin_headers, clinic, monkeypatch):
    if not is_postgres():
        pytest.skip("the figure is for PostgreSQL")
    from crm_medical import api

    doctor = clinic.staff[("internal", "medical_doctor")]
    ids = []
    for p in range(PATIENTS):
        patient = register_patient(
            client, doctor, name=f"患者{p}", id_number="11010519491231002X", admin_headers=admin_headers
        )
        for v in range(RECORDS):
            body = {
                "customer_id": patient,
                "visit_no": f"MZ{p:05d}{v}",
                "custom": {
                    "complaint": "cough for a week",
                    "diagnosis": f"bronchitis {v}",
                    "prescriptions": "rest",
                },
            }
            r = client.post(f"{M}/records", json=body, headers=doctor)
            assert r.status_code == 201, r.get_json()
            ids.append(r.get_json()["id"])
    rng = random.Random(7)

    def detail():
        assert client.get(f"{M}/records/{rng.choice(ids)}", headers=doctor).status_code == 200

    def page():
        assert client.get(f"{M}/records?page_size=100", headers=doctor).status_code == 200

    audited = {"detail": _median_ms(detail, REPEAT), "list": _median_ms(page, REPEAT // 5)}
    monkeypatch.setattr(api.records_crud, "prefetch", None)  # the audit step off, measuring only
    plain = {"detail": _median_ms(detail, REPEAT), "list": _median_ms(page, REPEAT // 5)}
    for name in ("detail", "list"):
        ratio = audited[name] / plain[name]
        print(
            f"{name:<7} audited {audited[name]:7.2f} ms  without audit {plain[name]:7.2f} ms  ratio {ratio:.2f}"
        )
        assert ratio < 3, (name, audited[name], plain[name])
