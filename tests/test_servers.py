"""`crm serve` (gunicorn) and `crm run` (dev server + scheduler) really serve HTTP."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CRM = str(Path(sys.executable).parent / "crm")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {seconds} s")


@pytest.fixture
def server_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_INSTANCE_PATH=str(tmp_path), CRM_SECRET_KEY="server-test")
    subprocess.run([CRM, "init"], env=env, check=True, capture_output=True, timeout=120)
    return env


@pytest.mark.slow
@pytest.mark.parametrize("command", [["serve", "--workers", "2"], ["run"]])
def test_server_answers_health(server_env, command):
    port = free_port()
    bind = ["--bind", f"127.0.0.1:{port}"] if command[0] == "serve" else ["--port", str(port)]
    env = server_env
    if command[0] == "serve":  # several workers must share their rate-limit counts (issue 14)
        env = {
            **server_env,
            "CRM_RATELIMIT_STORAGE_URL": os.environ.get("CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "CRM_RATELIMIT_KEY_PREFIX": f"crmtest-servers-{port}",
        }
    proc = subprocess.Popen(
        [CRM, *command, *bind],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        body = wait_for(f"http://127.0.0.1:{port}/api/v1/health", proc)
        assert body["status"] == "ok" and body["database"] == "ok"
        # what people look up travels in query strings: the access log keeps the path only
        wait_for(f"http://127.0.0.1:{port}/api/v1/health?id_number=110105199003071234", proc)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    log = proc.stdout.read()
    assert "/api/v1/health" in log and "110105199003071234" not in log and "id_number" not in log
