"""The benchmarks still run: each script at a tiny size (their figures are read by people, not
asserted; this only keeps the scripts from rotting as the code under them changes)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm_core.testing import postgres_server_url

ROOT = Path(__file__).resolve().parent.parent

TINY = {
    "bench_list.py": ["--customers", "300", "--requests", "5"],
    "bench_scope.py": ["--customers", "300", "--requests", "5"],
    "bench_import.py": ["--rows", "100"],
    "bench_custom_fields.py": ["--n", "300", "--repeat", "1"],
    "bench_medical_read_audit.py": ["--patients", "2", "--records", "2", "--repeat", "3"],
    "bench_encryption.py": ["--n", "200", "--repeat", "1"],
    "bench_events.py": ["--events", "20", "--deliveries", "10"],
    "bench_messaging.py": ["--messages", "20", "--http", "5"],
    "bench_ecommerce.py": [
        "--n",
        "40",
        "--webhook-clients",
        "2",
        "--clients",
        "4",
        "--requests",
        "2",
        "--workers",
        "1",
    ],
    "bench_loyalty.py": [
        "--n",
        "200",
        "--clients",
        "3",
        "--requests",
        "3",
        "--workers",
        "1",
        "--think-ms",
        "0,5",
    ],
    "bench_coupon_segment.py": ["--customers", "30", "--chunk", "7"],
    "bench_channel.py": ["--events", "500", "--touchpoints", "2000", "--conversions", "50"],
    "bench_statements.py": [],
    "bench_graphql.py": ["--customers", "20", "--requests", "5"],
    "bench_http.py": ["--customers", "300", "--requests", "3", "--workers", "1", "--clients", "2"],
    "bench_sqlite_writers.py": ["--seconds", "5", "--baseline-seconds", "1", "--sequential", "20"],
    "bench_soak.py": [
        "--seconds",
        "3",
        "--customers",
        "200",
        "--members",
        "5",
        "--workers",
        "2",
        "--clients",
        "list=1,detail=1,create=1,redeem=1,ingest=1",
    ],
}
# benchmarks of the embedded default: they start their own SQLite instance, no PostgreSQL needed
SQLITE_ONLY = {"bench_sqlite_writers.py", "bench_graphql.py"}


def test_every_benchmark_has_a_smoke_size():
    assert sorted(p.name for p in (ROOT / "bench").glob("bench_*.py")) == sorted(TINY)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(TINY))
def test_benchmark_runs_at_a_tiny_size(script):
    if script not in SQLITE_ONLY and postgres_server_url() is None:
        pytest.skip("benchmarks run on PostgreSQL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env["CRM_RATELIMIT_ENABLED"] = "false"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *TINY[script]],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.stdout.strip(), "a benchmark prints its figures"
