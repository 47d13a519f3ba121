"""HTTP benchmark: crm-core against a bare Flask + psycopg2 app running the same SQL on the same
tables under the same gunicorn, in one run (issue 23's table).

    .venv/bin/python bench/bench_http.py                         # 20,000 customers, a few minutes
    .venv/bin/python bench/bench_http.py --customers 1000000     # the issue's size (seeding: long)
    .venv/bin/python bench/bench_http.py --database crm_bench_x  # reuse a seeded database

Seeds a fresh PostgreSQL database with ``crm demo-data --customers N``, gives a sales rep (a role
granting ``customers:read`` on its own rows) 2% of the customers, then for each kind of work
captures, in process, the SQL our endpoint runs on the customer tables (not the token, the
permission revision or the audit/outbox writes: that is our overhead) and has a bare Flask view
run exactly those statements on one psycopg2 connection per worker. Both are served by gunicorn
with the same number of sync workers (``crm serve`` for ours), and driven by the load generator
in ``bench/httpload.py`` (N concurrent keep-alive clients, closed loop) from this process:

- list ``?source_channel=kol&sort=-created_at&page_size=20`` as an admin;
- list as the sales rep (own scope; the bare app's view runs the same ``owner_id =`` query);
- detail ``GET /customers/<id>`` over random ids;
- create ``POST /customers`` (ours: audit entry, outbox event, Idempotency-Key; bare: the INSERT).

The machine running it is also the load generator's, so figures compare the two apps in the same
conditions; absolute numbers depend on what else runs there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpload  # noqa: E402  (bench/ on the path: run as a script, and as gunicorn's module)

ROOT = Path(__file__).resolve().parents[1]
LIST = "/api/v1/customers?source_channel=kol&sort=-created_at&page_size=20"
OWN = "/api/v1/customers?sort=-created_at&page_size=20"
#: tables of our own bookkeeping: their statements are what the bare app does not do
OVERHEAD = ("access_token", "permission_", "idempotency_key", "audit_", "event_outbox", "metadata_state")
GOALS = {"list": 0.9, "own": 0.7, "detail": 0.5, "create": 0.3}
LABELS = {
    "list": "list `?source_channel=kol&sort=-created_at&page_size=20` (admin)",
    "own": "list as a sales rep (own scope, 2% of rows)",
    "detail": "detail `GET /customers/<id>`",
    "create": "create `POST /customers` (audit, outbox, idempotency)",
}


# --- the bare app (imported by gunicorn in its workers: ``bench_http:bare_app()``) ------------
def bare_app():
    """Flask + psycopg2 running the captured statements (``BENCH_BARE_SQL``, a JSON file)."""
    import psycopg2
    import psycopg2.extras
    from flask import Flask, Response, request

    plan = json.loads(Path(os.environ["BENCH_BARE_SQL"]).read_text())
    app = Flask("bare")
    state = {}

    def cursor():
        if "conn" not in state:  # one connection per worker, opened after the fork
            state["conn"] = psycopg2.connect(os.environ["BENCH_BARE_DSN"])
            state["conn"].autocommit = True
        return state["conn"].cursor(cursor_factory=psycopg2.extras.RealDictCursor)

    def run(statements, swap=None):
        out = []
        with cursor() as cur:
            for sql, params in statements:
                if swap is not None:
                    params = [swap[1] if p == swap[0] else p for p in params]
                cur.execute(sql, params)
                out.append(cur.fetchall() if cur.description else [])
        return out

    def answer(rows, status=200, headers=None):
        body = json.dumps([dict(r) for r in rows], default=str)
        return Response(body, status, headers or {}, mimetype="application/json")

    @app.get("/api/v1/health")
    def health():
        return {"status": "ok"}

    @app.get("/api/v1/customers")
    def listing():
        results = run(plan["own" if request.args.get("owner_id") else "list"])
        total = next((next(iter(r[0].values())) for r in results if r and len(r[0]) == 1), None)
        page = next((r for r in results if r and "source_channel" in r[0]), [])
        return answer(page, headers={"X-Pagination": json.dumps({"total": total})})

    @app.get("/api/v1/customers/<int:record_id>")
    def detail(record_id):
        results = run(plan["detail"], swap=(plan["detail_id"], record_id))
        return answer(results[0][:1] if results and results[0] else [], 200 if results[0] else 404)

    @app.post("/api/v1/customers")
    def create():
        request.get_data()
        results = run(plan["create"])
        return answer(results[0] if results else [], 201)

    return app


# --- the run ----------------------------------------------------------------------------------
def _env(url: str, instance: str) -> dict:
    return {
        **os.environ,
        "CRM_DATABASE_URL": url,
        "CRM_INSTANCE_PATH": instance,
        "CRM_SECRET_KEY": "bench",
        "CRM_RATELIMIT_ENABLED": "false",
        "CRM_LOG_LEVEL": "WARNING",
    }


def seed(url: str, env: dict, customers: int) -> None:
    crm = str(Path(sys.executable).parent / "crm")
    subprocess.run([crm, "migrate"], env=env, check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run(
        [crm, "demo-data", "--customers", str(customers)], env=env, check=True, capture_output=True
    )
    print(f"seeded {customers:,} customers with `crm demo-data` in {time.perf_counter() - start:.0f} s")


def prepare(url: str):
    """Tokens (admin, sales rep owning 2% of the customers), sample ids, and the captured SQL."""
    import psycopg2

    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token
    from crm_core.auth.models import Role
    from crm_core.db import database
    from crm_core.permissions.models import Grant

    app = create_app({"RATELIMIT_ENABLED": False})
    tag = uuid.uuid4().hex[:6]
    with app.app_context():
        admin = create_user(f"bench_admin_{tag}", "Bench-Passw0rd!", roles=["admin"])
        role = Role.create(name=f"bench_own_{tag}", label="bench own")
        for action in ("read", "create"):
            Grant.create(role=role, resource="customers", action=action, scope="own")
        rep = create_user(f"bench_rep_{tag}", "Bench-Passw0rd!", roles=[role.name])
        admin_raw, _ = issue_token(admin, ttl=0)
        rep_raw, _ = issue_token(rep, ttl=0)
        database.execute_sql("UPDATE customer SET owner_id = %s WHERE id %% 50 = 0", (rep.id,))
        ids = [r[0] for r in database.execute_sql("SELECT id FROM customer ORDER BY random() LIMIT 2000")]
        database.close()
    vacuum = psycopg2.connect(url)
    vacuum.autocommit = True
    with vacuum.cursor() as cur:
        cur.execute("VACUUM ANALYZE customer")
    vacuum.close()

    admin_h = {"Authorization": f"Bearer {admin_raw}"}
    rep_h = {"Authorization": f"Bearer {rep_raw}"}
    client = app.test_client()
    db = app.extensions["crm"].db
    real = db.execute_sql
    plan, counts = {"detail_id": ids[0]}, {}

    def capture(kind, call):
        captured: list[tuple[str, list]] = []

        def spy(sql, params=None, *a, **k):
            captured.append((sql, list(params or ())))
            return real(sql, params, *a, **k)

        call()  # warm (first requests read catalogues, compile statements)
        db.execute_sql = spy
        try:
            r = call()
        finally:
            db.execute_sql = real
        assert r.status_code < 300, r.get_data(as_text=True)[:300]
        data = [(s, p) for s, p in captured if not any(t in s for t in OVERHEAD)]
        data = [(s, p) for s, p in data if '"customer' in s and not s.startswith(("SAVEPOINT", "RELEASE"))]
        if kind == "create":
            data = [(s, p) for s, p in data if s.startswith('INSERT INTO "customer"')]
        plan[kind], counts[kind] = (
            [(s, [_jsonable(v) for v in p]) for s, p in data],
            (len(captured), len(data)),
        )

    capture("list", lambda: client.get(LIST, headers=admin_h))
    capture("own", lambda: client.get(OWN, headers=rep_h))
    capture("detail", lambda: client.get(f"/api/v1/customers/{ids[0]}", headers=admin_h))
    capture(
        "create",
        lambda: client.post(
            "/api/v1/customers",
            json={"name": "Bench Person"},
            headers={**admin_h, "Idempotency-Key": uuid.uuid4().hex},
        ),
    )
    return admin_h, rep_h, ids, plan, counts, rep.id


def _jsonable(value):
    if hasattr(value, "adapted"):  # psycopg2 Json wrapper
        return json.dumps(value.adapted)
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ")
    return value


def bare_served(env: dict, workers: int):
    """The bare app under gunicorn with ``workers`` sync workers (a context manager: the port)."""
    import contextlib

    @contextlib.contextmanager
    def served():
        port = httpload.free_port()
        command = [
            str(Path(sys.executable).parent / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--access-logfile",
            "-",
            "--chdir",
            str(Path(__file__).resolve().parent),
            "bench_http:bare_app()",
        ]
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 60
            while not httpload.healthy(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the bare app did not come up")
                time.sleep(0.1)
            yield port
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)

    return served()


def load(port: int, make, args) -> httpload.Result:
    httpload.run("127.0.0.1", port, args.clients, 5, make)  # warm every worker
    result = httpload.run("127.0.0.1", port, args.clients, args.requests, make)
    if result.errors:
        print(f"  errors on port {port}: {result.errors[:2]}")
    return result


def requests_of(headers: dict, rep_h: dict, ids: list[int], rep_id: int, bare: bool):
    rng = random.Random(7)

    def make_list(_c, _i):
        return httpload.Request("GET", LIST, headers=headers)

    def make_own(_c, _i):
        path = f"{OWN}&owner_id={rep_id}" if bare else OWN
        return httpload.Request("GET", path, headers=rep_h)

    def make_detail(_c, _i):
        return httpload.Request("GET", f"/api/v1/customers/{rng.choice(ids)}", headers=headers)

    def make_create(c, i):
        extra = {"Idempotency-Key": uuid.uuid4().hex}
        return httpload.Request(
            "POST", "/api/v1/customers", body={"name": f"Load {c}-{i}"}, headers={**headers, **extra}
        )

    return {"list": make_list, "own": make_own, "detail": make_detail, "create": make_create}


def run(url: str, args) -> None:
    instance = tempfile.mkdtemp(prefix="crm-bench-http-")
    env = _env(url, instance)
    os.environ.update({k: v for k, v in env.items() if k.startswith("CRM_")})
    if not args.database:
        seed(url, env, args.customers)
    admin_h, rep_h, ids, plan, counts, rep_id = prepare(url)
    plan_file = Path(instance) / "bare_sql.json"
    plan_file.write_text(json.dumps(plan))
    bare_env = {**env, "BENCH_BARE_SQL": str(plan_file), "BENCH_BARE_DSN": url}
    ours, bare = {}, {}
    with httpload.served(env, args.workers) as port:
        for kind, make in requests_of(admin_h, rep_h, ids, rep_id, bare=False).items():
            ours[kind] = load(port, make, args)
    with bare_served(bare_env, args.workers) as port:
        for kind, make in requests_of(admin_h, rep_h, ids, rep_id, bare=True).items():
            bare[kind] = load(port, make, args)

    print(
        f"\ncustomers={args.customers if not args.database else 'reused'} workers={args.workers} "
        f"clients={args.clients} requests={args.clients * args.requests} per work"
    )
    print(
        "| work | crm-core req/s | p99 ms | bare Flask, same SQL | ratio | goal | statements (ours / bare) |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind in ("list", "own", "detail", "create"):
        o, b = ours[kind], bare[kind]
        ratio = o.rate / b.rate if b.rate else 0
        total, data = counts[kind]
        print(
            f"| {LABELS[kind]} | {o.rate:,.1f} | {httpload.percentile(o.latencies, 99):,.0f} | "
            f"{b.rate:,.1f} (p99 {httpload.percentile(b.latencies, 99):,.0f}) | {ratio:.2f} | ≥ {GOALS[kind]} | "
            f"{total} / {data} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=int(os.environ.get("BENCH_CUSTOMERS", 20_000)))
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers, both apps")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--requests", type=int, default=60, help="requests per client per work")
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database.")
    parser.add_argument("--database", help="Reuse this already seeded database (no seeding; kept).")
    args = parser.parse_args()
    # a SIGTERM (timeout, a CI runner) unwinds like Ctrl-C: both servers and the database go
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from crm_core.testing import scratch_database, url_with_database

    if args.database:
        run(url_with_database(args.pg_url, args.database), args)
    else:
        with scratch_database(args.pg_url, "crm_bench_http", keep=args.keep) as url:
            run(url, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
