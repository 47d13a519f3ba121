"""Benchmark: importing a customer CSV through ``POST /api/v1/customers/import``, on SQLite and
PostgreSQL, against a baseline in the same run.

    .venv/bin/python bench/bench_import.py                 # 10,000 rows
    .venv/bin/python bench/bench_import.py --rows 100000   # the issue's size

The file has Chinese headers (姓名, 手机, 邮箱, 性别, 来源, 标签) and is saved as Excel does
(UTF-8 with BOM). Each backend gets a fresh migrated database; the import runs as an admin in
``valid_only`` mode. The baseline is the floor for the same rows: the CSV parsed with the csv
module and inserted with peewee ``insert_many`` in chunks of 1,000, with no validation,
normalisation, duplicate checks, tags or audit. The ratio shows what validation and per-row
audit/events cost on top of the bulk insert. The second baseline adds the audit entries the
import wrote, inserted again with ``insert_many`` into a copy of the audit table (the issue's
goal: the import at 0.8 of that speed or better).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import peewee as pw

from crm_core.testing import scratch_database  # noqa: E402

CHANNELS = ("wechat", "douyin", "kol", "store", "website")


def make_csv(rows: int) -> bytes:
    rng = random.Random(7)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["姓名", "手机", "邮箱", "性别", "来源", "标签"])
    for i in range(rows):
        writer.writerow(
            [
                f"客户{i}",
                f"139 {i // 10000:04d} {i % 10000:04d}",
                f"Person{i}@Example.com",
                rng.choice(("男", "女")),
                rng.choice(CHANNELS),
                "vip" if i % 10 == 0 else "",
            ]
        )
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def fresh_databases(pg_url: str | None):
    """(backend, URL) of a new SQLite file, then (with ``pg_url``) of a scratch PostgreSQL
    database, each gone once the loop moves on."""
    tmp = tempfile.mkdtemp(prefix="crm-bench-import-")
    yield "sqlite", f"sqlite:///{tmp}/crm.db"
    if pg_url:
        with scratch_database(pg_url, "crm_bench_import") as url:
            yield "postgresql", url


def run_backend(url: str, data: bytes, rows: int) -> tuple[float, float, dict]:
    env = {**os.environ, "CRM_DATABASE_URL": url, "CRM_SECRET_KEY": "bench", "CRM_LOG_LEVEL": "WARNING"}
    crm = str(Path(sys.executable).parent / "crm")
    subprocess.run([crm, "migrate"], env=env, check=True, capture_output=True)
    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token
    from crm_core.entities.models import Customer

    app = create_app(
        {"DATABASE_URL": url, "RATELIMIT_ENABLED": False, "MAX_CONTENT_LENGTH": 200 * 1024 * 1024}
    )
    with app.app_context():
        user = create_user(f"bench_{uuid.uuid4().hex[:6]}", "Bench-Passw0rd!", roles=["admin"])
        raw, _ = issue_token(user, ttl=0)
    client = app.test_client()
    start = time.perf_counter()
    r = client.post(
        "/api/v1/customers/import",
        data={"file": (io.BytesIO(data), "customers.csv"), "mode": "valid_only"},
        headers={"Authorization": f"Bearer {raw}"},
        content_type="multipart/form-data",
    )
    # the import is a task (202 + Location): run it as the scheduler would, then read its report
    assert r.status_code == 202, (r.status_code, str(r.get_json())[:500])
    from crm_core.jobs.tasks import run_pending

    run_pending(app)
    ours = time.perf_counter() - start
    task = client.get(r.headers["Location"], headers={"Authorization": f"Bearer {raw}"}).get_json()
    report = task["result"]
    assert task["status"] == "done" and report["imported"] == rows, str(task)[:500]

    # baseline: the same rows, parsed and bulk-inserted with nothing else
    with app.app_context():
        from crm_core.db import database, utcnow

        Customer.delete().where(Customer.id > 0).execute()  # tags/audit rows stay; the table is emptied
        start = time.perf_counter()
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
        next(reader)
        now = utcnow()
        batch = []
        with database.atomic():
            for name, phone, email, gender, source, _tag in reader:
                batch.append(
                    {
                        "name": name,
                        "phone": "+86" + phone.replace(" ", ""),
                        "email": email.lower(),
                        "gender": "male" if gender == "男" else "female",
                        "source_channel": source,
                        "lifecycle_stage": "lead",
                        "custom": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                if len(batch) == 1000:
                    Customer.insert_many(batch).execute()
                    batch.clear()
            if batch:
                Customer.insert_many(batch).execute()
        baseline = time.perf_counter() - start
        with_audit = baseline + _audit_rows_in_bulk(database)
        database.close()
    return ours, baseline, with_audit, report


def _audit_rows_in_bulk(database) -> float:
    """Seconds to insert, with peewee's ``insert_many`` in chunks of 1,000, the audit entries the
    import wrote, as they are, into a copy of the audit table with the same indexes (the issue's
    baseline: the bare insert "plus the same audit rows inserted in bulk")."""
    from crm_core.audit.models import AuditEntry
    from crm_core.db import is_postgres

    names = [f.column_name for f in AuditEntry._meta.sorted_fields if f.name != "id"]
    cursor = database.execute_sql(
        f"SELECT {', '.join(names)} FROM audit_entry WHERE resource = 'customers' ORDER BY id"
    )
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    if is_postgres():
        database.execute_sql("CREATE TABLE audit_copy (LIKE audit_entry INCLUDING ALL)")
    else:  # the same columns; the indexes by name, as SQLite's schema gives them
        database.execute_sql("CREATE TABLE audit_copy AS SELECT * FROM audit_entry WHERE 0")
        for (sql,) in database.execute_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_entry' AND sql IS NOT NULL"
        ).fetchall():
            database.execute_sql(
                sql.replace("audit_entry", "audit_copy", 2).replace('INDEX "', 'INDEX "copy_')
            )
    table = pw.Table("audit_copy", names).bind(database)
    start = time.perf_counter()
    with database.atomic():
        for i in range(0, len(rows), 1000):
            table.insert(rows[i : i + 1000]).execute()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 10_000)))
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="'' to skip PostgreSQL",
    )
    args = parser.parse_args()
    data = make_csv(args.rows)
    print(f"CSV: {args.rows:,} rows, {len(data) / 1e6:.1f} MB, UTF-8 with BOM, Chinese headers")
    for backend, url in fresh_databases(args.pg_url or None):
        ours, baseline, with_audit, _ = run_backend(url, data, args.rows)
        print(
            f"{backend:<10} import endpoint {ours:7.2f} s ({args.rows / ours:8.0f} rows/s)   "
            f"bare insert_many {baseline:6.2f} s ({ours / baseline:4.1f}x)   "
            f"bare + its audit rows in bulk {with_audit:6.2f} s (speed {with_audit / ours:4.2f} of it)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
