"""``crm run`` (dev server + scheduler) stops whole on SIGTERM/SIGINT: no orphan scheduler (issue 14)."""

from __future__ import annotations

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

pytestmark = pytest.mark.slow

CRM = str(Path(sys.executable).parent / "crm")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process from /proc, None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (scanning /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[0] != "Z":
                parents[int(entry.name)] = st[1]
    found, frontier = set(), {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier} - found
        found |= children
        frontier = children
    return found


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"


@pytest.fixture
def instance_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_INSTANCE_PATH=str(tmp_path), CRM_SECRET_KEY="run-process-test")
    subprocess.run([CRM, "init"], env=env, check=True, capture_output=True, timeout=180)
    return env


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"]
)
def test_crm_run_stops_whole_on_a_signal(instance_env, tmp_path, signum):
    port = _free_port()
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        [CRM, "run", "--port", str(port)],
        env=instance_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group: the teardown can kill all of it
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and health is None:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as r:
                    health = json.loads(r.read())
            except OSError:
                time.sleep(0.3)
        assert health and health["status"] == "ok", (tmp_path / "run.log").read_text()
        # the scheduler child is up (it has taken the lock file and writes its pid there)
        lock_file = tmp_path / "scheduler.lock"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            lock_file.exists() and lock_file.read_text().strip().isdigit()
        ):
            time.sleep(0.2)
        seen = descendants(proc.pid)
        assert seen, "crm run started no scheduler process"
        assert int(lock_file.read_text()) in seen, "the scheduler holding the lock is not a child of crm run"

        # what a service manager (or Ctrl-C) sends the main process; SIGKILL: the kernel tells the child
        os.kill(proc.pid, signum)
        started = time.monotonic()
        proc.wait(timeout=15)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in seen):
            time.sleep(0.1)
        left = sorted(pid for pid in seen if alive(pid))
        took = time.monotonic() - started
        assert not left, f"orphans after {signal.Signals(signum).name}: {left}"
        print(f"\ncrm run and {len(seen)} child process(es) gone {took:.2f} s after {signum.name}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for pid in seen:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
