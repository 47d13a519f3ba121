"""The PostgreSQL pool hands out connections without a round trip, and reconnects when the server
dropped one while it sat in the pool (a restart, a failover: here ``pg_terminate_backend``)."""

from __future__ import annotations

import peewee as pw
import psycopg2
import pytest

from crm_core.db import PooledPostgres, database
from crm_core.entities.models import Customer

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _terminate_pooled(db) -> int:
    """End, on the server, every connection waiting in ``db``'s pool; how many."""
    pids = [conn.get_backend_pid() for _ts, _n, conn in db._connections]
    killer = psycopg2.connect(**_params(db))
    killer.autocommit = True
    with killer.cursor() as cur:
        for pid in pids:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    killer.close()
    return len(pids)


def _params(db) -> dict:
    return {"dbname": db.database, **db.connect_params}


def test_requests_go_on_after_the_server_dropped_pooled_connections(app, client, admin_headers):
    db = app.extensions["crm"].db
    assert isinstance(db, PooledPostgres)
    assert client.get("/api/v1/customers", headers=admin_headers).status_code == 200
    assert _terminate_pooled(db) >= 1
    # the first statement of the next checkout (the token lookup) fails and is sent again
    assert client.get("/api/v1/customers", headers=admin_headers).status_code == 200
    assert _terminate_pooled(db) >= 1
    created = client.post("/api/v1/customers", json={"name": "After Restart"}, headers=admin_headers)
    assert created.status_code == 201, created.get_json()
    # a checkout whose first statement is BEGIN
    assert _terminate_pooled(db) >= 1
    with app.app_context():
        with database.atomic():
            assert Customer.select().count() == 1
        database.close()


def test_a_connection_lost_inside_a_transaction_is_not_retried(app):
    db = app.extensions["crm"].db
    with app.app_context():
        with pytest.raises((pw.OperationalError, pw.InterfaceError)), database.atomic():
            Customer.select().count()
            pid = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
            killer = psycopg2.connect(**_params(db))
            killer.autocommit = True
            killer.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
            killer.close()
            Customer.create(name="Never Written")  # the statement may have run: raised, not resent
        database.close()
        assert Customer.select().count() == 0
        database.close()
