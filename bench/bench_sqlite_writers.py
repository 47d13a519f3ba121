#!/usr/bin/env python3
"""SQLite as the embedded default under concurrent writers: ``crm run`` (web + scheduler) on a
fresh instance folder, N clients writing for D seconds, every answer checked.

``crm init`` and ``crm run`` run as subprocesses (their own process group, always stopped) on a
free 127.0.0.1 port with the default SQLite database. A webhook subscription to a local receiver
makes the scheduler fan every event out beside the load (event dispatch, webhook delivery, audit
sealing and the plugins' jobs all write to the same file). Each client (an asyncio coroutine on
one kept-alive connection, see ``httpload``) logs in twice, through the API (bearer token) and
through the workbench's ``/login`` form (session cookie, CSRF token), then loops over:

    POST /api/v1/customers (every other one with an Idempotency-Key), PATCH /api/v1/customers/<id>,
    GET /api/v1/customers/<id>, GET /api/v1/customers?page_size=20, a workbench edit (GET the form
    for its CSRF token, POST it), and every 25 rounds a fresh token (POST /auth/token), a fresh
    workbench login and a wrong password for another user (failed-login bookkeeping).

Printed: requests, answers by status, p50/p99 latency per kind, throughput, whether the outbox
drained afterwards; beside them two baselines measured in the same run: the same clients doing
only ``GET /api/v1/health`` against the same server, and a bare ``sqlite3`` loop of one-row
``BEGIN IMMEDIATE; INSERT; COMMIT`` transactions in N threads on a scratch file with the app's
pragmas (the most writes/s the file can take). Exits 1 on any 5xx, ``database is locked`` or
connection error, or when the outbox does not drain.

    .venv/bin/python bench/bench_sqlite_writers.py                 # 4 clients x 60 s
    .venv/bin/python bench/bench_sqlite_writers.py --seconds 5     # smoke size
    options: --clients N --seconds D --baseline-seconds B --sequential N (one client, POSTs only)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httpload import free_port, healthy, percentile, receiver, run_loop  # noqa: E402

CRM = str(Path(sys.executable).parent / "crm")
ADMIN = "bench_admin"
OTHER = "bench_other"  # the user whose password the clients get wrong (failed-login bookkeeping)
PASSWORD = "Bench-Passw0rd!x"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LOCKED = b"database is locked"


# ------------------------------------------------------------------------------------ the server


def instance_env(instance: Path, extra: dict | None = None) -> dict:
    """The environment of ``crm init`` / ``crm run`` on ``instance`` with SQLite (no CRM_* from
    outside, so never PostgreSQL), rate limits on but with budgets 4 clients in a closed loop
    cannot exhaust (their store is the default memory://, not the database), private webhook URLs
    allowed (the receiver is on loopback)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(
        CRM_INSTANCE_PATH=str(instance),
        CRM_SECRET_KEY="bench-sqlite-writers",
        CRM_ADMIN_USERNAME=ADMIN,
        CRM_ADMIN_PASSWORD=PASSWORD,
        CRM_RATELIMIT_DEFAULT="1000000/minute",
        CRM_RATELIMIT_ENDPOINT="1000000/minute",
        CRM_RATELIMIT_LOGIN="1000000/minute",
        CRM_WEBHOOK_ALLOW_PRIVATE_URLS="true",
    )
    env.update(extra or {})
    return env


@contextmanager
def crm_run(instance: Path, env: dict | None = None, wait_seconds: float = 120):
    """``crm init`` then ``crm run`` (web + scheduler) on ``instance``; yields (port, log path)
    once /api/v1/health answers and the scheduler holds its lock; always stops the whole process
    group (SIGTERM, then SIGKILL)."""
    env = env or instance_env(instance)
    instance.mkdir(parents=True, exist_ok=True)
    subprocess.run([CRM, "init"], env=env, check=True, capture_output=True, timeout=300)
    subprocess.run(
        [CRM, "create-user", OTHER, "--password", PASSWORD, "--role", "admin"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    log_path = instance / "run.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [CRM, "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + wait_seconds
        lock = instance / "scheduler.lock"
        while not (healthy(port) and lock.exists() and lock.read_text().strip().isdigit()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("crm run did not come up:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        yield port, log_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # the scheduler child, should it outlive its parent
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def outbox_pending(instance: Path) -> int:
    """Events not yet dispatched (read-only look at the instance's database)."""
    conn = sqlite3.connect(f"file:{instance / 'crm.db'}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM event_outbox WHERE status = 'pending'").fetchone()[0]
    finally:
        conn.close()


def wait_outbox_drained(instance: Path, timeout: float = 60) -> tuple[int, float]:
    """(events still pending, seconds waited) once the outbox is empty or ``timeout`` passed."""
    start = time.monotonic()
    while True:
        left = outbox_pending(instance)
        if left == 0 or time.monotonic() - start > timeout:
            return left, time.monotonic() - start
        time.sleep(0.5)


# ------------------------------------------------------------------------------------ the client


class Client:
    """One HTTP/1.1 client on a kept-alive loopback connection, with a cookie jar."""

    def __init__(self, port: int, timeout: float = 60):
        self.port = port
        self.timeout = timeout
        self.reader = self.writer = None
        self.cookies: dict[str, str] = {}

    async def request(self, method, path, json_body=None, form=None, headers=None):
        """(status, headers, body); raises OSError/asyncio errors on a broken connection."""
        headers = dict(headers or {})
        body = b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(data)
        status, head, payload, keep = await asyncio.wait_for(self._response(), self.timeout)
        if not keep:
            self.close()
        return status, head, payload

    async def _response(self):
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        head: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                name, value = name.strip().lower(), value.strip()
                if name == "set-cookie":
                    cookie = value.split(";", 1)[0]
                    if "=" in cookie:
                        k, v = cookie.split("=", 1)
                        if v:
                            self.cookies[k] = v
                        else:
                            self.cookies.pop(k, None)
                head[name] = value
        if "content-length" in head:
            payload = await self.reader.readexactly(int(head["content-length"]))
        elif head.get("transfer-encoding", "").lower() == "chunked":
            payload = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                payload += chunk[:-2]
        else:
            return status, head, await self.reader.read(), False
        return status, head, payload, head.get("connection", "").lower() != "close"

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Tally:
    """Latencies (ms) per kind of request, answers by status, and the first few failures."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    locked: int = 0
    connection_errors: int = 0
    failures: list[str] = field(default_factory=list)
    unexpected: int = 0  # a 4xx where the script expects success

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.connection_errors

    @property
    def errors(self) -> int:
        """What must never happen: 5xx, database is locked, a dropped connection."""
        return sum(n for s, n in self.statuses.items() if s >= 500) + self.locked + self.connection_errors

    def note(self, text: str):
        if len(self.failures) < 8:
            self.failures.append(text)


async def call(client: Client, tally: Tally, kind: str, method: str, path: str, expect=(200,), **kw):
    """One timed request; counts its status; returns (status, headers, body) or None when the
    connection broke."""
    start = time.perf_counter()
    try:
        status, head, body = await client.request(method, path, **kw)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        tally.connection_errors += 1
        tally.note(f"{kind}: {method} {path}: connection error {exc!r}")
        client.close()
        return None
    tally.latencies[kind].append((time.perf_counter() - start) * 1000)
    tally.statuses[status] += 1
    if LOCKED in body:
        tally.locked += 1
    if status not in expect:
        if status < 500:
            tally.unexpected += 1
        tally.note(f"{kind}: {method} {path} -> {status} {body[:300]!r}")
    return status, head, body


async def api_login(client: Client, tally: Tally) -> dict:
    r = await call(
        client,
        tally,
        "token",
        "POST",
        "/api/v1/auth/token",
        json_body={"username": ADMIN, "password": PASSWORD},
    )
    if r is None or r[0] != 200:
        return {}
    return {"Authorization": f"Bearer {json.loads(r[2])['access_token']}"}


async def web_login(client: Client, tally: Tally) -> bool:
    client.cookies.clear()
    r = await call(client, tally, "web login", "GET", "/login")
    if r is None or r[0] != 200:
        return False
    token = CSRF_RE.search(r[2].decode()).group(1)
    form = {"username": ADMIN, "password": PASSWORD, "csrf_token": token}
    r = await call(client, tally, "web login", "POST", "/login", form=form, expect=(302, 303))
    return r is not None and r[0] in (302, 303)


async def writer(port: int, index: int, deadline: float, tally: Tally) -> None:
    """One client's loop of writes and reads until ``deadline`` (time.monotonic())."""
    api, web = Client(port), Client(port)
    auth = await api_login(api, tally)
    await web_login(web, tally)
    mine: list[int] = []
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            tag = f"c{index}-{n}"
            # every other create carries an Idempotency-Key (its stored response is a write too)
            key = {"Idempotency-Key": f"bench-{tag}"} if n % 2 else {}
            r = await call(
                api,
                tally,
                "POST customer",
                "POST",
                "/api/v1/customers",
                expect=(201,),
                json_body={
                    "name": f"Writer {tag}",
                    "email": f"{tag}@bench.example",
                    "source_channel": "bench",
                },
                headers={**auth, **key},
            )
            if r is not None and r[0] == 201:
                mine.append(json.loads(r[2])["id"])
            if not mine:
                continue
            cid = mine[n % len(mine)]
            await call(
                api,
                tally,
                "PATCH customer",
                "PATCH",
                f"/api/v1/customers/{cid}",
                json_body={"name": f"Patched {tag}", "tags": [f"t{n % 7}"]},
                headers=auth,
            )
            await call(api, tally, "GET customer", "GET", f"/api/v1/customers/{cid}", headers=auth)
            await call(api, tally, "GET list", "GET", "/api/v1/customers?page_size=20", headers=auth)
            r = await call(web, tally, "web edit", "GET", f"/records/customers/{cid}/edit")
            if r is not None and r[0] == 200:
                token = CSRF_RE.search(r[2].decode()).group(1)
                form = {"name": f"Web {tag}", "email": f"{tag}@web.example", "csrf_token": token}
                await call(
                    web,
                    tally,
                    "web edit",
                    "POST",
                    f"/records/customers/{cid}/edit",
                    form=form,
                    expect=(302, 303),
                )
            if n % 25 == 0:  # login bookkeeping and token issue are writes too
                auth = await api_login(api, tally) or auth
                await web_login(web, tally)
                # a wrong password: failed_logins and an audit entry (429 once that user is
                # locked out from this IP, still audited)
                await call(
                    api,
                    tally,
                    "failed login",
                    "POST",
                    "/api/v1/auth/token",
                    expect=(401, 429),
                    json_body={"username": OTHER, "password": "wrong-Passw0rd!"},
                )
    finally:
        api.close()
        web.close()


async def health_only(port: int, deadline: float, tally: Tally) -> None:
    client = Client(port)
    try:
        while time.monotonic() < deadline:
            await call(client, tally, "GET health", "GET", "/api/v1/health")
    finally:
        client.close()


async def sequential_posts(port: int, count: int, tally: Tally) -> None:
    """One client, ``count`` POST /customers one after the other (the issue's first report)."""
    client = Client(port)
    auth = await api_login(client, tally)
    try:
        for i in range(count):
            await call(
                client,
                tally,
                "POST customer",
                "POST",
                "/api/v1/customers",
                expect=(201,),
                json_body={"name": f"Sequential {i}", "source_channel": "bench"},
                headers=auth,
            )
    finally:
        client.close()


def drive(port: int, clients: int, seconds: float) -> tuple[Tally, float]:
    """``clients`` writers for ``seconds``; (tally, elapsed seconds)."""
    tally = Tally()

    async def main():
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(writer(port, c, deadline, tally) for c in range(clients)))

    start = time.perf_counter()
    run_loop(main)
    return tally, time.perf_counter() - start


def drive_health(port: int, clients: int, seconds: float) -> tuple[Tally, float]:
    tally = Tally()

    async def main():
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(health_only(port, deadline, tally) for _ in range(clients)))

    start = time.perf_counter()
    run_loop(main)
    return tally, time.perf_counter() - start


def drive_sequential(port: int, count: int) -> tuple[Tally, float]:
    tally = Tally()
    start = time.perf_counter()
    run_loop(lambda: sequential_posts(port, count, tally))
    return tally, time.perf_counter() - start


def subscribe_webhook(port: int, url: str) -> None:
    """A subscription to every customer event, so the scheduler delivers webhooks under load."""

    async def main():
        client, tally = Client(port), Tally()
        auth = await api_login(client, tally)
        r = await call(
            client,
            tally,
            "webhook",
            "POST",
            "/api/v1/webhooks",
            expect=(201,),
            json_body={"url": url, "events": ["customer.*"]},
            headers=auth,
        )
        client.close()
        if r is None or r[0] != 201:
            raise RuntimeError(f"cannot subscribe the webhook receiver: {tally.failures}")

    run_loop(main)


# ---------------------------------------------------------------------------------- the baseline


def sqlite_baseline(path: Path, threads: int, seconds: float) -> tuple[int, int, float, float]:
    """A bare sqlite3 loop: ``threads`` threads each committing one-row ``BEGIN IMMEDIATE``
    transactions for ``seconds`` on a scratch WAL file with the app's pragmas; (commits, errors,
    elapsed seconds, p99 ms)."""
    from crm_core.db import SQLITE_PRAGMAS

    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=wal")
    setup.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT, at TEXT)")
    setup.close()
    counts, errors, latencies = [0] * threads, [0] * threads, [[] for _ in range(threads)]
    deadline = time.monotonic() + seconds

    def work(i):
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for name, value in SQLITE_PRAGMAS.items():
            conn.execute(f"PRAGMA {name}={value}")
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO t (name, at) VALUES (?, datetime('now'))", (f"w{i}",))
                conn.execute("COMMIT")
                counts[i] += 1
                latencies[i].append((time.perf_counter() - start) * 1000)
            except sqlite3.OperationalError:
                errors[i] += 1
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        conn.close()

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    flat = [x for lat in latencies for x in lat]
    return sum(counts), sum(errors), elapsed, percentile(flat, 99) if flat else 0.0


# ------------------------------------------------------------------------------------ reporting


def _spread(lat: list[float]) -> str:
    return (
        f"n={len(lat):>6}  p50 {percentile(lat, 50):7.1f} ms  p99 {percentile(lat, 99):7.1f} ms"
        f"  max {max(lat):7.1f} ms"
    )


def job_runs(instance: Path) -> list[tuple]:
    """(job id, runs, errors, mean ms, longest ms) of the scheduler's runs so far."""
    conn = sqlite3.connect(f"file:{instance / 'crm.db'}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(
            "SELECT job_id, count(*), sum(outcome = 'error'), avg(duration_ms), max(duration_ms)"
            " FROM job_run GROUP BY job_id ORDER BY job_id"
        ).fetchall()
    finally:
        conn.close()


def report(title: str, tally: Tally, seconds: float) -> None:
    print(
        f"{title}: {tally.requests} requests in {seconds:.1f} s = {tally.requests / seconds:,.1f}/s; "
        f"errors (5xx, locked, connection): {tally.errors}"
    )
    print(f"  answers by status: {dict(sorted(tally.statuses.items()))}", end="")
    print(f"; 'database is locked': {tally.locked}; connection errors: {tally.connection_errors}")
    every = [x for lat in tally.latencies.values() for x in lat]
    if every:
        print(f"  {'all':<16} {_spread(every)}")
    for kind, lat in sorted(tally.latencies.items()):
        print(f"  {kind:<16} {_spread(lat)}")
    for failure in tally.failures:
        print(f"  ! {failure}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline-seconds", type=float, default=None, help="default: seconds/6, at least 2")
    parser.add_argument("--sequential", type=int, default=0, help="also N sequential POSTs from one client")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder (and its run.log)")
    args = parser.parse_args(argv)
    base_s = args.baseline_seconds or max(2.0, args.seconds / 6)

    tmp = Path(tempfile.mkdtemp(prefix="bench-sqlite-writers-"))
    instance = tmp / "instance"
    server, url, hits = receiver()
    failed = False
    try:
        with crm_run(instance) as (port, log_path):
            subscribe_webhook(port, url)
            print(f"crm run (web + scheduler) on 127.0.0.1:{port}, SQLite {instance / 'crm.db'}")
            print(
                f"{args.clients} clients x {args.seconds:.0f} s writing, then baselines of {base_s:.0f} s\n"
            )
            tally, elapsed = drive(port, args.clients, args.seconds)
            report(f"writers ({args.clients} clients)", tally, elapsed)
            writes = (
                sum(
                    len(tally.latencies[k])
                    for k in ("POST customer", "PATCH customer", "token", "web login", "failed login")
                )
                + len(tally.latencies["web edit"]) // 2
            )
            print(f"  write requests {writes} = {writes / elapsed:,.1f}/s")
            failed |= tally.errors > 0 or tally.unexpected > 0
            if args.sequential:
                seq, seq_s = drive_sequential(port, args.sequential)
                report(f"\n{args.sequential} sequential POST /customers, one client", seq, seq_s)
                failed |= seq.errors > 0 or seq.unexpected > 0
            left, waited = wait_outbox_drained(instance)
            print(
                f"\noutbox: {left} events pending {waited:.1f} s after the load"
                f" (webhook deliveries received: {len(hits)})"
            )
            failed |= left > 0
            for job_id, runs, errors, mean_ms, max_ms in job_runs(instance):
                print(
                    f"  job {job_id:<26} runs {runs:>4}  errors {errors}  mean {mean_ms or 0:6.0f} ms"
                    f"  longest {max_ms or 0:6.0f} ms"
                )
                failed |= bool(errors)
            wal = instance / "crm.db-wal"
            print(
                f"database {(instance / 'crm.db').stat().st_size / 1e6:.1f} MB,"
                f" WAL {wal.stat().st_size / 1e6 if wal.exists() else 0:.1f} MB after the load"
                " (it stays small while checkpoints keep up with the writers)"
            )
            health, health_s = drive_health(port, args.clients, base_s)
            report(f"\nbaseline: the same {args.clients} clients, GET /api/v1/health only", health, health_s)
            failed |= health.errors > 0
            locked_lines = [
                line for line in log_path.read_text().splitlines() if "database is locked" in line
            ]
            if locked_lines:
                print(
                    f"\nserver log: {len(locked_lines)} lines with 'database is locked', first: {locked_lines[0]}"
                )
                failed = True
        commits, errors, raw_s, raw_p99 = sqlite_baseline(tmp / "baseline.db", args.clients, base_s)
        print(
            f"baseline: bare sqlite3, {args.clients} threads of BEGIN IMMEDIATE/INSERT/COMMIT: "
            f"{commits / raw_s:,.0f} commits/s, p99 {raw_p99:.2f} ms, errors {errors}"
        )
    finally:
        server.shutdown()
        if args.keep:
            print(f"instance kept in {instance}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    print("\nFAILED: errors under load (see above)" if failed else "\nOK: no errors")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
