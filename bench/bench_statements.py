"""SQL statements per request on the production path: list, detail and PATCH of a customer, as an
admin and as a sales rep (department scope, field rules), each request in its own app context as
in production (nothing cached in ``g`` across requests).

Prints the count per request and, as the baseline in the same run, what a bare view needs for the
same answer (token lookup + the query itself: 2 for a detail, 3 for a list with its count, 3 for a
PATCH: lookup, read, update). Counts, not times: they do not depend on the machine.

    python bench/bench_statements.py [--database postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import tempfile

BARE = {"list": 3, "detail": 2, "patch": 3}


def count_statements(db, send) -> int:
    """How many statements ``send()`` makes ``db`` execute."""
    seen = []
    original = db.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        seen.append(sql)
        return original(sql, params, *args, **kwargs)

    db.execute_sql = counting
    try:
        send()
    finally:
        db.execute_sql = original
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a database URL (default: a new SQLite file)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="crm-bench-statements-")
    url = args.database or f"sqlite:///{tmp}/crm.db"
    os.environ.setdefault("CRM_INSTANCE_PATH", tmp)

    from crm_core import create_app
    from crm_core.auth import create_user, issue_token
    from crm_core.auth.models import Role
    from crm_core.directory.departments import create_department
    from crm_core.migrate import migrate
    from crm_core.permissions.models import FieldRule

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False})
    crm = app.extensions["crm"]
    with app.app_context():
        migrate(crm.db, crm.plugins)
        dept = create_department("bench")
        admin = create_user("bench_admin", "Bench-Passw0rd!", roles=["admin"])
        sales = create_user("bench_sales", "Bench-Passw0rd!", roles=["sales"], department_id=dept.id)
        FieldRule.create(
            role=Role.get(Role.name == "sales"), resource="customers", field="email", rule="hidden"
        )
        tokens = {"admin": issue_token(admin)[0], "sales": issue_token(sales)[0]}
    client = app.test_client()
    auth = {who: {"Authorization": f"Bearer {raw}"} for who, raw in tokens.items()}
    ids = []
    for i in range(30):
        r = client.post(
            "/api/v1/customers",
            json={"name": f"c{i}", "phone": f"+86138001380{i:02d}"},
            headers=auth["sales"],
        )
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    db = crm.db
    print(f"{'request':<28}{'admin':>8}{'sales':>8}{'bare':>8}")
    for name, send in [
        ("list (page of 20)", lambda h: client.get("/api/v1/customers?page_size=20", headers=h)),
        ("detail", lambda h: client.get(f"/api/v1/customers/{ids[0]}", headers=h)),
        ("patch", lambda h: client.patch(f"/api/v1/customers/{ids[1]}", json={"name": "x"}, headers=h)),
    ]:
        counts = []
        for who in ("admin", "sales"):
            send(auth[who])  # warm: per-app caches (plugins' resources, compiled queries)
            counts.append(count_statements(db, lambda s=send, w=who: _ok(s(auth[w]))))
        bare = BARE[name.split()[0]]
        print(f"{name:<28}{counts[0]:>8}{counts[1]:>8}{bare:>8}")


def _ok(response):
    assert response.status_code < 300, (response.status_code, response.get_data(as_text=True)[:300])
    return response


if __name__ == "__main__":
    main()
