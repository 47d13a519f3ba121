"""GET /metrics: Prometheus text behind a bearer token, request counts by route template, 429s,
the outbox backlog, job runs and tasks read from the database at scrape time; under
``crm serve`` the workers' counts are summed (multiprocess mode)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from crm_core.testing import deliver_events, run_cli

TOKEN = "scrape-token-for-tests"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app_config(app_config):
    return {**app_config, "METRICS_TOKEN": TOKEN, "RATELIMIT_ENDPOINT": "4/minute"}


def samples(text: str) -> dict:
    """``{(sample name, frozenset(labels)): value}`` of an exposition."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(client) -> dict:
    answer = client.get("/metrics", headers=SCRAPE)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(answer.get_data(as_text=True))


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_need_the_token(client, app):
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401 and wrong.json["code"] == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in wrong.get_data(as_text=True)
    chinese = client.get("/metrics", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 401 and "指标令牌" in chinese.json["message"]
    # without a token configured there are no metrics at all
    app.config["METRICS_TOKEN"] = ""
    assert client.get("/metrics", headers=SCRAPE).status_code == 404


def test_requests_by_route_template_status_and_latency(client, admin_headers):
    before = scrape(client)
    created = client.post("/api/v1/customers", json={"name": "Metric Person"}, headers=admin_headers)
    assert created.status_code == 201
    customer = created.json["id"]
    assert client.get(f"/api/v1/customers/{customer}?q=13800138000", headers=admin_headers).status_code == 200
    assert client.get("/api/v1/customers/999999", headers=admin_headers).status_code == 404
    assert client.get("/no/such/page/4711").status_code == 404
    after = scrape(client)

    route = "/api/v1/customers/<int:record_id>"
    requests = "crm_http_requests_total"
    assert (
        value(after, requests, route=route, method="GET", status="200")
        - value(before, requests, route=route, method="GET", status="200")
        == 1
    )
    assert (
        value(after, requests, route=route, method="GET", status="404")
        - value(before, requests, route=route, method="GET", status="404")
        == 1
    )
    assert value(after, requests, route="/api/v1/customers", method="POST", status="201") >= 1
    assert value(after, requests, route="<unmatched>", method="GET", status="404") >= 1
    hist = "crm_http_request_duration_seconds_count"
    assert value(after, hist, route=route, method="GET") - value(before, hist, route=route, method="GET") == 2
    # labels carry templates, never a path, an id or a query value
    labels = " ".join(v for (_, pairs) in after for _, v in pairs)
    assert "13800138000" not in labels and "/no/such/page" not in labels and f"/{customer}" not in labels


def test_rate_limit_rejections_are_counted(client, admin_headers):
    before = scrape(client)
    statuses = [client.get("/api/v1/users", headers=admin_headers).status_code for _ in range(6)]
    assert statuses.count(429) >= 2
    after = scrape(client)
    name = "crm_rate_limit_rejections_total"
    assert value(after, name, route="/api/v1/users") - value(
        before, name, route="/api/v1/users"
    ) == statuses.count(429)
    assert value(after, "crm_http_requests_total", route="/api/v1/users", method="GET", status="429") >= 2


def test_outbox_backlog_jobs_and_tasks_read_at_scrape(app, client, admin_headers):
    assert (
        client.post("/api/v1/customers", json={"name": "Backlog"}, headers=admin_headers).status_code == 201
    )
    found = scrape(client)
    pending = value(found, "crm_outbox_events", status="pending")
    assert pending >= 1
    assert value(found, "crm_outbox_dispatch_lag_seconds") >= 0
    assert ("crm_outbox_dispatch_lag_seconds", frozenset()) in found

    assert deliver_events() >= 1
    found = scrape(client)
    assert value(found, "crm_outbox_events", status="pending") == 0
    assert value(found, "crm_outbox_dispatch_lag_seconds") == 0

    result = run_cli(app, "jobs", "run", "core.jobs:tasks")
    assert result.exit_code == 0, result.output
    found = scrape(client)
    assert value(found, "crm_job_runs", job="core.jobs:tasks", outcome="success") == 1
    assert (
        "crm_job_run_duration_seconds_mean",
        frozenset({("job", "core.jobs:tasks"), ("outcome", "success")}),
    ) in found
    assert (
        value(found, "crm_job_last_finished_timestamp_seconds", job="core.jobs:tasks", outcome="success")
        > 1.7e9
    )

    # an import queued by a request is a task until the scheduler runs it
    queued = client.post(
        "/api/v1/customers/import",
        data={"file": (io.BytesIO(b"name\nImported One\n"), "people.csv")},
        headers=admin_headers,
    )
    assert queued.status_code in (200, 201, 202), queued.get_data(as_text=True)
    found = scrape(client)
    assert (
        sum(
            v
            for (n, labels), v in found.items()
            if n == "crm_tasks" and ("kind", "customers.import") in labels
        )
        == 1
    )


CRM = str(Path(sys.executable).parent / "crm")


def pool_pids(files: Path) -> list[int]:
    """The workers that counted requests: one ``counter_<pid>.db`` file each."""
    return [int(f.stem.rsplit("_", 1)[1]) for f in files.glob("counter_*.db")]


@pytest.mark.slow
def test_crm_serve_sums_the_workers_metrics(tmp_path):
    """Two gunicorn workers answer; one scrape (whichever worker takes it) counts every request."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_servers import free_port, wait_for  # the servers' own helpers

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "PROMETHEUS_"))}
    metrics_parent = tmp_path / "metrics"
    metrics_parent.mkdir()
    env.update(
        CRM_INSTANCE_PATH=str(tmp_path / "instance"),
        CRM_SECRET_KEY="serve-metrics-test",
        CRM_METRICS_TOKEN=TOKEN,
        CRM_RATELIMIT_ENABLED="0",
        CRM_LOG_FORMAT="json",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_parent),
    )
    subprocess.run([CRM, "init"], env=env, check=True, capture_output=True, timeout=120)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [CRM, "serve", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(f"{base}/health/live", proc)

        def hit(_):
            with urllib.request.urlopen(f"{base}/api/v1/health?phone=13800138000", timeout=10) as answer:
                return answer.status

        sent = 0
        files = None
        with ThreadPoolExecutor(8) as pool:
            # concurrent bursts until both workers have answered some (each keeps its own file)
            for _ in range(30):
                assert set(pool.map(hit, range(16))) == {200}
                sent += 16
                files = next(metrics_parent.iterdir())
                if len({f.name for f in files.glob("counter_*.db")}) >= 2:
                    break
        assert len({f.name for f in files.glob("counter_*.db")}) == 2, "one worker answered everything"
        for _ in range(4):  # whichever worker answers the scrape, it reports the sum
            request = urllib.request.Request(f"{base}/metrics", headers=SCRAPE)
            with urllib.request.urlopen(request, timeout=5) as answer:
                found = samples(answer.read().decode())
            count = value(
                found, "crm_http_requests_total", route="/api/v1/health", method="GET", status="200"
            )
            assert count == sent
        # a worker that dies keeps its counts in the sum; gunicorn starts another in its place
        victim = int(next(files.glob("counter_*.db")).stem.rsplit("_", 1)[1])
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(set(pool_pids(files)) - {victim}) < 2:
            with ThreadPoolExecutor(4) as pool:
                assert set(pool.map(hit, range(8))) == {200}
            sent += 8
        request = urllib.request.Request(f"{base}/metrics", headers=SCRAPE)
        with urllib.request.urlopen(request, timeout=5) as answer:
            found = samples(answer.read().decode())
        assert (
            value(found, "crm_http_requests_total", route="/api/v1/health", method="GET", status="200")
            == sent
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    output = proc.stdout.read()
    assert list(metrics_parent.iterdir()) == []  # the start's directory went with it
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # gunicorn's too
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    health = [line for line in lines if line.get("route") == "/api/v1/health"]
    assert len(health) == sent
    assert all(
        line["status"] == 200 and line["method"] == "GET" and line["duration_ms"] >= 0 for line in health
    )
    assert len({line["request_id"] for line in health}) == sent
    assert "13800138000" not in output and "phone=" not in output
