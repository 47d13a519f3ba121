"""The audit log: entries for every write (API and CLI) in the write's transaction, the keyed hash
chain detecting edited, deleted, reordered and cut-off entries, purge anchors, and the
permission-checked ``GET /api/v1/audit``."""

from __future__ import annotations

import datetime as dt
import json

import peewee as pw
import pytest
from audit_tampering import tampering
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core.audit import purge, record_read, seal, verify
from crm_core.audit.models import AuditEntry, AuditHead
from crm_core.auth.models import Role
from crm_core.directory.departments import create_department
from crm_core.permissions.models import FieldRule, Grant


def writes(resource="customers"):
    return list(AuditEntry.select().where(AuditEntry.resource == resource).order_by(AuditEntry.id))


def test_every_write_is_audited_with_changed_fields(client, make_user):
    user, headers = make_user("auditor", roles=("admin",))
    headers = {**headers, "X-Request-ID": "req-123"}
    r = client.post("/api/v1/customers", json={"name": "张三", "email": "a@example.com"}, headers=headers)
    cid = r.get_json()["id"]
    client.patch(f"/api/v1/customers/{cid}", json={"name": "李四"}, headers=headers)
    client.delete(f"/api/v1/customers/{cid}", headers=headers)
    created, updated, deleted = writes()
    assert [e.action for e in (created, updated, deleted)] == ["create", "update", "delete"]
    assert all(
        e.record_id == str(cid) and e.actor_id == user.id and e.actor_name == "auditor"
        for e in (created, updated)
    )
    assert created.request_id == "req-123" and created.ip == "127.0.0.1"
    assert json.loads(created.after)["name"] == "张三" and created.before is None
    before, after = json.loads(updated.before), json.loads(updated.after)
    assert before["name"] == "张三" and after["name"] == "李四"
    assert "email" not in after  # only the changed fields
    assert json.loads(deleted.before)["name"] == "李四" and deleted.after is None


def test_a_failed_write_leaves_no_entry(client, admin_headers):
    count = AuditEntry.select().count()
    r = client.post("/api/v1/customers", json={"name": "x", "email": "not-an-email"}, headers=admin_headers)
    assert r.status_code == 422
    assert AuditEntry.select().count() == count


def test_cli_writes_are_audited_and_verify_exit_codes(app):
    runner = CliRunner()
    from crm_core.cli import build_cli

    cli = build_cli()
    env = {"CRM_DATABASE_URL": app.config["DATABASE_URL"], "CRM_INSTANCE_PATH": app.config["INSTANCE_PATH"]}
    r = runner.invoke(cli, ["create-user", "clerk", "--password", "Clerk-passw0rd"], env=env)
    assert r.exit_code == 0, r.output
    entry = AuditEntry.get(AuditEntry.resource == "users", AuditEntry.action == "create")
    assert entry.client_id == "cli" and json.loads(entry.after)["username"] == "clerk"
    r = runner.invoke(cli, ["audit", "verify"], env=env)
    assert r.exit_code == 0 and "intact" in r.output, r.output
    with tampering():
        AuditEntry.update(after='{"username":"forged"}').where(AuditEntry.id == entry.id).execute()
    r = runner.invoke(cli, ["audit", "verify"], env=env)
    assert r.exit_code == 1 and f"entry id {entry.id}" in r.output and "edited" in r.output


@pytest.fixture
def chain(client, admin_headers):
    """Ten sealed entries."""
    for i in range(10):
        client.post("/api/v1/customers", json={"name": f"c{i}"}, headers=admin_headers)
    seal()
    rows = list(AuditEntry.select().order_by(AuditEntry.seq))
    assert verify().ok and len(rows) >= 10
    return rows


def test_edit_is_detected_and_named(chain):
    target = chain[4]
    with tampering():
        AuditEntry.update(actor_name="someone else").where(AuditEntry.id == target.id).execute()
    result = verify()
    assert not result.ok and result.bad_id == target.id and "edited" in result.reason


def test_delete_is_detected(chain):
    target = chain[3]
    with tampering():
        AuditEntry.delete().where(AuditEntry.id == target.id).execute()
    result = verify()
    assert not result.ok and result.bad_seq == target.seq + 1 and "deleted" in result.reason


def test_reorder_is_detected(chain):
    a, b = chain[2], chain[5]
    with tampering():
        AuditEntry.update(seq=-1).where(AuditEntry.id == a.id).execute()
    with tampering():
        AuditEntry.update(seq=a.seq).where(AuditEntry.id == b.id).execute()
    with tampering():
        AuditEntry.update(seq=b.seq).where(AuditEntry.id == a.id).execute()
    result = verify()
    assert not result.ok and result.bad_seq == a.seq


def test_rehashed_forgery_still_breaks_the_next_link(chain):
    """Recomputing the forged entry's own hash does not help: the next entry links to the old one."""
    from crm_core.audit.chain import entry_hash

    target = chain[6]
    with tampering():
        AuditEntry.update(after='{"name":"forged"}').where(AuditEntry.id == target.id).execute()
    forged = AuditEntry.get_by_id(target.id)
    with tampering():
        AuditEntry.update(hash=entry_hash(forged, forged.seq, forged.prev_hash)).where(
            AuditEntry.id == target.id
        ).execute()
    result = verify()
    assert not result.ok and result.bad_seq == target.seq + 1


def test_truncating_the_tail_is_detected(chain):
    with tampering():
        AuditEntry.delete().where(AuditEntry.seq >= chain[-2].seq).execute()
    result = verify()
    assert not result.ok and "cut off" in result.reason


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    index=st.integers(min_value=0, max_value=9),
    column=st.sampled_from(["resource", "record_id", "action", "before", "after", "ip", "actor_id"]),
)
def test_any_single_edit_is_detected(chain, index, column):
    target = AuditEntry.get_by_id(chain[index].id)
    original = getattr(target, column)
    forged = 424242 if column == "actor_id" else "tampered"
    with tampering():
        AuditEntry.update({getattr(AuditEntry, column): forged}).where(AuditEntry.id == target.id).execute()
    try:
        result = verify()
        assert not result.ok and result.bad_id == target.id
    finally:
        with tampering():
            AuditEntry.update({getattr(AuditEntry, column): original}).where(
                AuditEntry.id == target.id
            ).execute()
    assert verify().ok


def test_writers_seal_their_entries_and_seal_picks_up_leftovers(client, admin_headers):
    client.post("/api/v1/customers", json={"name": "a"}, headers=admin_headers)
    assert AuditEntry.select().where(AuditEntry.seq.is_null()).count() == 0  # sealed on write
    # a row inserted unsealed (written before this version) is sealed by seal()
    AuditEntry.create(kind="write", resource="customers", record_id="9", action="create")
    assert seal() == 1 and seal() == 0
    assert AuditEntry.select().where(AuditEntry.seq.is_null()).count() == 0
    seqs = [e.seq for e in AuditEntry.select().order_by(AuditEntry.seq)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert AuditHead.get_by_id(1).seq == seqs[-1]
    assert verify().ok


def test_purge_leaves_a_verifiable_anchor(chain, app):
    old = [e.id for e in chain[:6]]
    with tampering():
        AuditEntry.update(occurred_at=dt.datetime(2015, 1, 1)).where(AuditEntry.id.in_(old)).execute()
    # back-dating breaks the hashes: re-seal from scratch as if they had been written then
    with tampering():
        AuditEntry.update(seq=None, hash=None, prev_hash=None).execute()
    with tampering():
        AuditHead.update(seq=0, hash="", mac=None, key_id=None).execute()
    seal()
    assert verify().ok
    assert purge(365) == 6
    anchor = AuditEntry.get(AuditEntry.kind == "anchor")
    info = json.loads(anchor.after)
    assert info["count"] == 6 and info["purged_to_seq"] == 6 and anchor.seq is not None
    result = verify()
    assert result.ok, result.describe()
    assert purge(365) == 0
    # removing the anchor's vouching makes the purged gap an error
    with tampering():
        AuditEntry.delete().where(AuditEntry.id == anchor.id).execute()
    assert not verify().ok


def test_purge_of_everything_keeps_the_chain(chain):
    with tampering():
        AuditEntry.update(occurred_at=dt.datetime(2015, 1, 1)).execute()
    with tampering():
        AuditEntry.update(seq=None, hash=None, prev_hash=None).execute()
    with tampering():
        AuditHead.update(seq=0, hash="", mac=None, key_id=None).execute()
    seal()
    assert purge(365) == len(chain) and verify().ok


@pytest.fixture
def scoped_world(client, make_user, admin_headers):
    """Customers in two departments; a manager of one, a hider of phone numbers, a sales user."""
    north, south = create_department("north"), create_department("south")
    _m, manager = make_user("manager_n", roles=("manager",), department_id=north.id)
    role = Role.create(name="auditor_no_phone")
    Grant.create(role=role, resource="audit", action="read", scope="all")
    Grant.create(role=role, resource="customers", action="read", scope="all")
    FieldRule.create(role=role, resource="customers", field="phone", rule="hidden")
    _a, auditor = make_user("auditor_np", roles=("auditor_no_phone",), department_id=north.id)
    _s, sales = make_user("sales_n", roles=("sales",), department_id=north.id)
    n = client.post(
        "/api/v1/customers",
        json={"name": "north c", "phone": "+8613800138000", "department_id": north.id},
        headers=admin_headers,
    ).get_json()
    s = client.post(
        "/api/v1/customers", json={"name": "south c", "department_id": south.id}, headers=admin_headers
    ).get_json()
    return {
        "manager": manager,
        "auditor": auditor,
        "sales": sales,
        "admin": admin_headers,
        "north": n,
        "south": s,
    }


def test_audit_api_obeys_row_scopes_and_field_rules(client, scoped_world):
    w = scoped_world
    everything = client.get("/api/v1/audit?resource=customers", headers=w["admin"]).get_json()
    assert {e["record_id"] for e in everything} == {str(w["north"]["id"]), str(w["south"]["id"])}
    assert all(e["seq"] for e in everything)  # sealed before listing
    seen = client.get("/api/v1/audit?resource=customers", headers=w["manager"]).get_json()
    assert [e["record_id"] for e in seen] == [str(w["north"]["id"])]
    hidden = client.get(
        f"/api/v1/audit?resource=customers&record_id={w['north']['id']}", headers=w["auditor"]
    ).get_json()
    assert hidden and "phone" not in hidden[0]["after"] and hidden[0]["after"]["name"] == "north c"
    shown = client.get(
        f"/api/v1/audit?resource=customers&record_id={w['north']['id']}", headers=w["admin"]
    ).get_json()
    assert shown[0]["after"]["phone"] == "+8613800138000"
    assert client.get("/api/v1/audit", headers=w["sales"]).status_code == 403


@pytest.mark.parametrize(
    "query",
    [
        "resource=customers' OR '1'='1",
        "record_id=1; DROP TABLE audit_entry; --",
        "action=%27%22%5C",
        "request_id=%25",
        "client_id=_",
    ],
)
def test_audit_filters_with_sql_metacharacters(client, scoped_world, query):
    r = client.get(f"/api/v1/audit?{query}", headers=scoped_world["admin"])
    assert r.status_code == 200 and r.get_json() == []
    assert AuditEntry.select().count() > 0


@pytest.mark.parametrize("query", ["since=yesterday", "kind=other", "page_size=500", "actor_id=abc"])
def test_audit_bad_filters_are_422(client, admin_headers, query):
    r = client.get(f"/api/v1/audit?{query}", headers=admin_headers)
    assert r.status_code == 422 and r.get_json()["errors"]


def test_audit_filters_select_entries(client, scoped_world):
    w = scoped_world
    r = client.get("/api/v1/audit?action=create&resource=customers&page_size=1", headers=w["admin"])
    assert len(r.get_json()) == 1 and json.loads(r.headers["X-Pagination"])["total"] == 2
    since = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert client.get(f"/api/v1/audit?since={since}", headers=w["admin"]).get_json() == []


def test_record_read_logs_sensitive_reads(app, make_user):
    from crm_core.auth import actor_for_user

    user, _ = make_user("reader", roles=("readonly",))
    entry = record_read(actor_for_user(user), "customers", 42, {"owner_id": 1, "department_id": None})
    assert entry.kind == "read" and entry.record_id == "42" and entry.actor_id == user.id
    seal()
    assert verify().ok


def test_the_database_refuses_edits_and_deletes_of_entries(chain):
    from crm_core.db import database

    target = chain[2]
    for statement in (
        AuditEntry.update(after='{"name":"forged"}').where(AuditEntry.id == target.id),
        AuditEntry.update(seq=None, hash=None).where(AuditEntry.id == target.id),
        AuditEntry.delete().where(AuditEntry.id == target.id),
    ):
        with pytest.raises(pw.DatabaseError), database.atomic():
            statement.execute()
    assert verify().ok


def test_configured_sensitive_resources_log_detail_reads(app, client, admin_headers, make_user):
    app.config["AUDIT_SENSITIVE_RESOURCES"] = "customers, objects.*"
    cid = client.post("/api/v1/customers", json={"name": "patient"}, headers=admin_headers).get_json()["id"]
    user, headers = make_user("nurse", roles=("readonly",))
    assert client.get(f"/api/v1/customers/{cid}", headers=headers).status_code == 200
    client.get("/api/v1/customers", headers=headers)  # lists are not single-record reads
    reads = list(AuditEntry.select().where(AuditEntry.kind == "read"))
    assert [(e.resource, e.record_id, e.actor_id, e.action) for e in reads] == [
        ("customers", str(cid), user.id, "read")
    ]
    app.config["AUDIT_SENSITIVE_RESOURCES"] = ""
    client.get(f"/api/v1/customers/{cid}", headers=headers)
    assert AuditEntry.select().where(AuditEntry.kind == "read").count() == 1


def test_concurrent_writers_and_sealer_keep_one_valid_chain(app):
    """Writers in several threads append entries in their own transactions while a sealer runs;
    writers queue on the chain head, and the chain ends up complete, unforked and valid."""
    import threading

    from crm_core.audit import record_change
    from crm_core.changes import Change
    from crm_core.db import database

    errors = []
    done = threading.Event()

    def writer(n):
        try:
            with app.app_context():
                for i in range(10):
                    with database.atomic():
                        record_change(
                            Change(
                                action="create", resource="customers", record_id=n * 100 + i, after={"n": i}
                            )
                        )
                database.close()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    def sealer():
        with app.app_context():
            while not done.wait(0.02):  # the scheduler seals every few seconds; here much more often
                seal()
            database.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    sealing = threading.Thread(target=sealer)
    sealing.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    sealing.join()
    assert not errors, errors
    seal()
    seqs = [e.seq for e in AuditEntry.select().order_by(AuditEntry.seq)]
    assert len(seqs) >= 40 and seqs == list(range(1, len(seqs) + 1))
    assert verify().ok
