#!/usr/bin/env python3
"""Load and soak: a mixed workload through gunicorn on PostgreSQL and Redis for ``--seconds``.

Starts ``crm serve`` (gunicorn, ``--workers`` sync workers, rate limits ON with their counters in
Redis, as in production; the limits are raised so that they count every request without
refusing any) on a scratch PostgreSQL database seeded with ``--customers`` customers, then drives
five routes at once, each from its own clients (bench/httpload.py, one event loop per route on a
thread of its own) until the time is up:

- list:    ``GET /api/v1/customers?sort=-created_at&page_size=20`` (a random page of the first 50)
- detail:  ``GET /api/v1/customers/<random id>``
- create:  ``POST /api/v1/customers``
- redeem:  ``POST /api/v1/loyalty/members/<id>/redeem`` (1 point; only if the loyalty plugin is
  installed and enabled)
- ingest:  ``POST /api/v1/conversations/messages`` (a batch of ``--batch`` chat messages, stored
  encrypted)

The server's output (tracebacks of 500s) goes to ``--server-log``, or to a temporary file that
is kept, and named in the report, when a request failed.

Every ``--sample-seconds`` it reads the resident memory (VmRSS, from /proc: psutil is not a
dependency) of the gunicorn master and of each worker. At the end it prints throughput and
p50/p99 per route, the answers that were not 2xx (and requests that failed to get an answer),
throughput per tenth of the run, and per worker its RSS over time with the slope after warm-up
(the first 20 % of the run): memory is *flat* when the least-squares line over the rest of the run
grows by less than 5 % of the worker's mean RSS (and by less than 4 MiB, for small workers).

Exits 1 when any request failed, and, on runs of at least 120 s (shorter ones cannot tell a leak
from warm-up), when a worker's memory was not flat.

    .venv/bin/python bench/bench_soak.py                      # 600 s, 4 workers, 10 clients
    .venv/bin/python bench/bench_soak.py --seconds 120 --workers 5 --clients list=2,detail=4,create=2,redeem=1,ingest=1
    options: --seconds S --workers W --customers N --clients ROUTE=N,... --think-ms T --batch B
             --sample-seconds S --pg-url postgresql://... --redis-url redis://...
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpload  # noqa: E402

from crm_core.testing import migrate_url, scratch_database  # noqa: E402

ROUTES = ("list", "detail", "create", "redeem", "ingest")
DEFAULT_CLIENTS = "list=2,detail=3,create=2,redeem=1,ingest=2"
# requests each client sends per round; a route's thread runs rounds until the time is up
ROUND = 20
WARM_UP = 0.2
FLAT_FRACTION, FLAT_MIB = 0.05, 4.0
MEMBER_BASE = 900000


def loyalty_enabled(app) -> bool:
    """Whether the loyalty plugin is installed and loaded in this app."""
    return any(
        row["name"] == "loyalty" and row["status"] == "enabled"
        for row in app.extensions["crm"].plugins.listing()
    )


def seed(url: str, customers: int, members: int, clients: int) -> dict:
    """Customers (in SQL), an admin with one token per client, and members with a balance."""
    import psycopg2

    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    conn = psycopg2.connect(url.replace("postgresql://", "postgres://", 1))
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO customer (id, name, lifecycle_stage, custom, created_at, updated_at)"
            " SELECT g, 'Soak ' || g, 'lead', '{}', %(now)s - g * interval '1 minute', %(now)s"
            " FROM generate_series(1, %(n)s) AS g",
            {"now": now, "n": customers},
        )
        cur.execute("SELECT setval(pg_get_serial_sequence('customer', 'id'), %s)", (customers,))
        cur.execute("ANALYZE")
    conn.close()
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        user = create_user(f"soak_{uuid.uuid4().hex[:6]}", "Soak-Passw0rd!", roles=["admin"])
        tokens = [issue_token(user)[0] for _ in range(clients)]
        redeem = loyalty_enabled(app)
        if redeem:
            from crm_loyalty import activities, ledger

            from crm_core.entities.models import Customer

            Customer.insert_many(
                [
                    {
                        "id": MEMBER_BASE + i,
                        "name": f"Member {i}",
                        "created_at": now,
                        "updated_at": now,
                        "custom": {},
                    }
                    for i in range(members)
                ]
            ).execute()
            for i in range(members):
                member, _ = activities.enrol(MEMBER_BASE + i)
                with ledger.member_lock(member.id) as locked:
                    ledger.credit(locked, 10_000_000, "soak-seed", kind="adjust", emit=False)
        app.extensions["crm"].db.close()
    return {"tokens": tokens, "redeem": redeem}


def makers(customers: int, members: int, tokens: list[str], batch: int, rng: random.Random) -> dict:
    """``make(client_index, i) -> httpload.Request`` per route; client ``c`` of route ``r`` uses
    token ``offset[r] + c``."""
    run = uuid.uuid4().hex[:8]
    counter = iter(range(10**12))
    lock = threading.Lock()

    def unique() -> int:
        with lock:
            return next(counter)

    def auth(token_index):
        return {"Authorization": f"Bearer {tokens[token_index % len(tokens)]}"}

    def list_(c, i):
        return httpload.Request(
            "GET", f"/api/v1/customers?sort=-created_at&page_size=20&page={rng.randint(1, 50)}", None, auth(c)
        )

    def detail(c, i):
        return httpload.Request("GET", f"/api/v1/customers/{rng.randint(1, customers)}", None, auth(c))

    def create(c, i):
        n = unique()
        body = {"name": f"Soak new {run}-{n}", "email": f"soak-{run}-{n}@example.com"}
        return httpload.Request("POST", "/api/v1/customers", body, auth(c))

    def redeem(c, i):
        member = MEMBER_BASE + rng.randrange(members)
        body = {"points": 1, "reference": f"soak-{run}-{unique()}"}
        return httpload.Request("POST", f"/api/v1/loyalty/members/{member}/redeem", body, auth(c))

    def ingest(c, i):
        n = unique()
        sent = dt.datetime.now(dt.UTC).isoformat()
        customer = rng.randint(1, customers)
        messages = [
            {
                "external_id": f"{run}-{n}-{k}",
                "conversation": f"chat-{customer}",
                "sent_at": sent,
                "sender": {"kind": "customer", "external_id": f"wx-{customer}"},
                "content": f"soak message {n}.{k}: 请问我的积分什么时候到账",
                "customer_id": customer,
            }
            for k in range(batch)
        ]
        body = {"source": "soak-webchat", "channel": "webchat", "messages": messages}
        return httpload.Request("POST", "/api/v1/conversations/messages", body, auth(c))

    return {"list": list_, "detail": detail, "create": create, "redeem": redeem, "ingest": ingest}


# -- memory of the gunicorn processes, from /proc ------------------------------------------


def _proc_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, command line) of ``pid``, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after its ")"
    return int(stat.rsplit(")", 1)[1].split()[1]), cmdline


def gunicorn_processes(port: int) -> tuple[int, list[int]]:
    """(master pid, worker pids) of the ``crm serve`` bound to 127.0.0.1:``port``."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _proc_stat(int(entry.name))):
            table[int(entry.name)] = info
    bind = f"127.0.0.1:{port}"
    masters = [pid for pid, (_ppid, cmd) in table.items() if " serve " in cmd and bind in cmd]
    master = min(masters, key=lambda pid: (table[pid][0] in masters, pid))  # the one whose parent is not one
    workers = sorted(pid for pid, (ppid, _cmd) in table.items() if ppid == master)
    return master, workers


def rss_mib(pid: int) -> float | None:
    """Resident memory of ``pid`` in MiB (VmRSS), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y) points (y per second); 0 with fewer than two."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / var if var else 0.0


class Sampler(threading.Thread):
    """Samples RSS of the master and every worker every ``every`` seconds until stopped."""

    def __init__(self, port: int, every: float):
        super().__init__(name="rss-sampler", daemon=True)
        self.port, self.every = port, every
        self.stop = threading.Event()
        self.master, self.workers = gunicorn_processes(port)
        self.samples: dict[int, list[tuple[float, float]]] = {pid: [] for pid in [self.master, *self.workers]}
        self.replaced: list[int] = []
        self.start_time = time.monotonic()

    def sample(self) -> None:
        now = time.monotonic() - self.start_time
        _master, workers = gunicorn_processes(self.port)
        for pid in set(workers) - set(self.samples):  # a worker restarted (crashed or recycled)
            self.samples[pid] = []
            self.replaced.append(pid)
        for pid in self.samples:
            value = rss_mib(pid)
            if value is not None:
                self.samples[pid].append((now, value))

    def run(self) -> None:
        self.sample()
        while not self.stop.wait(self.every):
            self.sample()
        self.sample()


# -- the load --------------------------------------------------------------------------------


class RouteLoad(threading.Thread):
    """One route's clients, in rounds of ``ROUND`` requests each, until ``deadline``."""

    def __init__(self, name, port, clients, make, think_ms, deadline, start):
        super().__init__(name=f"load-{name}", daemon=True)
        self.route, self.port, self.clients, self.make = name, port, clients, make
        self.think_ms, self.deadline, self.start_time = think_ms, deadline, start
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self.failed = 0  # requests that got no answer (the connection broke)
        self.rounds: list[tuple[float, int]] = []  # (end time since start, requests)

    def run(self) -> None:
        seed = 0
        while time.monotonic() < self.deadline:
            seed += 1
            try:
                result = httpload.run(
                    "127.0.0.1", self.port, self.clients, ROUND, self.make, self.think_ms, seed=seed
                )
            except (OSError, EOFError, ValueError) as exc:  # asyncio's IncompleteReadError is an EOFError
                self.failed += 1
                if len(self.errors) < 5:
                    self.errors.append(f"no answer: {exc!r}")
                time.sleep(0.5)
                continue
            self.latencies += result.latencies
            for status, count in result.statuses.items():
                self.statuses[status] = self.statuses.get(status, 0) + count
            self.errors += result.errors[: max(0, 5 - len(self.errors))]
            self.rounds.append((time.monotonic() - self.start_time, len(result.latencies)))

    @property
    def bad(self) -> int:
        return self.failed + sum(n for status, n in self.statuses.items() if status >= 400)


def parse_clients(text: str) -> dict[str, int]:
    clients = {}
    for part in text.split(","):
        name, _, count = part.partition("=")
        if name.strip() not in ROUTES:
            raise SystemExit(f"--clients: unknown route {name!r} (routes: {', '.join(ROUTES)})")
        clients[name.strip()] = int(count)
    return {name: n for name, n in clients.items() if n > 0}


def report(loads: list[RouteLoad], sampler: Sampler, seconds: float, workers: int, args) -> bool:
    """Print the figures; True when every request succeeded and memory was flat (or the run was
    too short to tell)."""
    total = sum(len(load.latencies) for load in loads)
    print(
        f"soak: crm serve, {workers} sync workers, PostgreSQL + Redis rate limits, {seconds:.0f} s, "
        f"{args.customers} customers, think {args.think_ms:g} ms"
    )
    print(
        f"  {'route':8} {'clients':>7} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}"
    )
    for load in loads:
        n = len(load.latencies)
        p50 = httpload.percentile(load.latencies, 50) if n else float("nan")
        p99 = httpload.percentile(load.latencies, 99) if n else float("nan")
        print(
            f"  {load.route:8} {load.clients:7d} {n:9d} {n / seconds:7.1f} {p50:7.1f} {p99:7.1f} {load.bad:7d}"
        )
    print(f"  {'all':8} {sum(x.clients for x in loads):7d} {total:9d} {total / seconds:7.1f}")
    statuses: dict[int, int] = {}
    for load in loads:
        for status, n in load.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    print(f"  answers by status: {dict(sorted(statuses.items()))}")
    for load in loads:
        for error in load.errors:
            print(f"  error ({load.route}): {error}")

    tenths = [0] * 10
    for load in loads:
        for end, n in load.rounds:
            tenths[min(9, int(end / seconds * 10))] += n
    print("  req/s per tenth of the run: " + " ".join(f"{n / (seconds / 10):.0f}" for n in tenths))

    print(f"  RSS (MiB) every {args.sample_seconds:g} s; slope after the first {WARM_UP:.0%} of the run:")
    flat_all = True
    warm = seconds * WARM_UP
    for pid, points in sampler.samples.items():
        if not points:
            continue
        role = "master" if pid == sampler.master else "worker"
        after = [(t, y) for t, y in points if t >= warm] or points
        mean = sum(y for _, y in after) / len(after)
        rate = slope(after)  # MiB per second
        growth = rate * (after[-1][0] - after[0][0])
        flat = growth < max(FLAT_FRACTION * mean, FLAT_MIB)
        if role == "worker":
            flat_all &= flat
        marks = [points[min(len(points) - 1, round(k * (len(points) - 1) / 4))][1] for k in range(5)]
        print(
            f"    {role} {pid}: start {points[0][1]:.1f}, after warm-up {after[0][1]:.1f}, end {points[-1][1]:.1f}, "
            f"max {max(y for _, y in points):.1f}; at 0/25/50/75/100 %: "
            + " ".join(f"{m:.1f}" for m in marks)
            + f"; slope {rate * 60:+.2f} MiB/min ({growth:+.1f} MiB after warm-up) "
            + ("flat" if flat else "GROWING")
        )
    if sampler.replaced:
        print(f"  workers replaced during the run (a crash or a timeout): {sampler.replaced}")
    judged = seconds >= 120
    verdict = "flat after warm-up" if flat_all else "NOT flat after warm-up"
    print(f"  memory: {verdict}" + ("" if judged else " (run shorter than 120 s: not judged)"))
    bad = sum(load.bad for load in loads)
    print(f"  errors: {bad} of {total + sum(x.failed for x in loads)} requests")
    return bad == 0 and not sampler.replaced and (flat_all or not judged)


def main() -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=float(env("SOAK_BENCH_SECONDS", 600)))
    parser.add_argument("--workers", type=int, default=int(env("SOAK_BENCH_WORKERS", 4)))
    parser.add_argument("--customers", type=int, default=int(env("SOAK_BENCH_CUSTOMERS", 20000)))
    parser.add_argument("--members", type=int, default=200, help="loyalty members redeemed on")
    parser.add_argument("--clients", default=env("SOAK_BENCH_CLIENTS", DEFAULT_CLIENTS), help="ROUTE=N,...")
    parser.add_argument("--think-ms", type=float, default=float(env("SOAK_BENCH_THINK_MS", 0)))
    parser.add_argument("--batch", type=int, default=5, help="messages per ingestion call")
    parser.add_argument("--sample-seconds", type=float, default=None, help="default: seconds / 60, 1 to 10")
    parser.add_argument(
        "--pg-url", default=env("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--redis-url", default=env("CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument(
        "--server-log",
        default=None,
        help="file for crm serve's output (default: a temporary file, kept on errors)",
    )
    args = parser.parse_args()
    if args.sample_seconds is None:
        args.sample_seconds = min(10.0, max(1.0, args.seconds / 60))
    clients = parse_clients(args.clients)

    import redis

    try:
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise SystemExit(
            f"Redis at {args.redis_url} does not answer ({exc}): the soak needs shared rate limits"
        ) from None

    with scratch_database(args.pg_url, "crm_bench_soak") as url:
        migrate_url(url)
        seeded = seed(url, args.customers, args.members, sum(clients.values()))
        if not seeded["redeem"] and clients.pop("redeem", None):
            print("loyalty plugin not installed: no redeem route")
        prefix = f"crm-soak-{uuid.uuid4().hex[:8]}"
        server_env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
        server_env.update(
            CRM_DATABASE_URL=url,
            CRM_SECRET_KEY="soak",
            CRM_ENCRYPTION_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
            CRM_RATELIMIT_STORAGE_URL=args.redis_url,
            CRM_RATELIMIT_KEY_PREFIX=prefix,
            # counted in Redis on every request, as in production, but high enough to refuse none
            CRM_RATELIMIT_DEFAULT="10000000/minute",
            CRM_RATELIMIT_ENDPOINT="10000000/minute",
            CRM_LOG_LEVEL="WARNING",
        )
        rng = random.Random(1)
        make = makers(args.customers, args.members, seeded["tokens"], args.batch, rng)
        log = args.server_log
        if log is None:
            handle, log = tempfile.mkstemp(prefix="crm-soak-", suffix=".log")
            os.close(handle)
        with httpload.served(server_env, args.workers, log=log) as port:
            # warm-up of every worker, outside the figures
            httpload.run(
                "127.0.0.1", port, args.workers * 2, 2, lambda c, i: httpload.Request("GET", "/api/v1/health")
            )
            sampler = Sampler(port, args.sample_seconds)
            start = time.monotonic()
            sampler.start_time = start
            sampler.start()
            deadline = start + args.seconds
            offsets, offset = {}, 0
            for name, n in clients.items():
                offsets[name], offset = offset, offset + n
            loads = [
                RouteLoad(
                    name,
                    port,
                    n,
                    lambda c, i, name=name: make[name](offsets[name] + c, i),
                    args.think_ms,
                    deadline,
                    start,
                )
                for name, n in clients.items()
            ]
            for load in loads:
                load.start()
            for load in loads:
                load.join()
            seconds = time.monotonic() - start
            sampler.stop.set()
            sampler.join()
        ok = report(loads, sampler, seconds, args.workers, args)
        _cleanup_redis(args.redis_url, prefix)
    if ok and not args.server_log:
        os.unlink(log)
    else:
        tracebacks = [line for line in Path(log).read_text(errors="replace").splitlines() if "Error" in line]
        print(
            f"  server log: {log}" + (f" (last error line: {tracebacks[-1].strip()})" if tracebacks else "")
        )
    return 0 if ok else 1


def _cleanup_redis(url: str, prefix: str) -> None:
    """Drop the run's rate-limit counters (its own prefix only)."""
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"*{prefix}*", count=1000):
        client.delete(key)


if __name__ == "__main__":
    raise SystemExit(main())
