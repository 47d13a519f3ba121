"""Members refer to customers the enrolling user can read, through a real foreign key, and every
points, tier and programme write is in the audit log (issue 13), on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import peewee as pw
import pytest
from loyalty_testlib import L

from crm_core.plugin_api import database, emit
from crm_core.testing import deliver_events, statements_of

MIGRATIONS = Path(__file__).resolve().parents[1] / "crm_loyalty" / "migrations"

LOYALTY_SALES = {
    "name": "loyalty_sales",
    "grants": [
        {"resource": "loyalty.members", "action": action, "scope": "department"}
        for action in ("read", "create", "update")
    ]
    + [
        {"resource": "loyalty.points", "action": action, "scope": "department"}
        for action in ("read", "redeem", "adjust")
    ]
    + [{"resource": "loyalty.activities", "action": action, "scope": "all"} for action in ("read", "create")],
}


@pytest.fixture
def two_departments(client, admin_headers, make_user):
    """Sales users in North and South with loyalty grants over their department; a customer of
    South's. Returns (north headers, south headers, the South customer's id)."""
    north = client.post("/api/v1/departments", json={"name": "North"}, headers=admin_headers).get_json()
    south = client.post("/api/v1/departments", json={"name": "South"}, headers=admin_headers).get_json()
    assert client.post("/api/v1/roles", json=LOYALTY_SALES, headers=admin_headers).status_code == 201
    rule = {"name": "1 per unit", "kind": "purchase", "rate": "1"}
    assert client.post(f"{L}/rules", json=rule, headers=admin_headers).status_code == 201
    _, ana = make_user("ana", roles=("sales", "loyalty_sales"), department_id=north["id"])
    _, bo = make_user("bo", roles=("sales", "loyalty_sales"), department_id=south["id"])
    r = client.post("/api/v1/customers", json={"name": "Southern customer"}, headers=bo)
    assert r.status_code == 201, r.get_json()
    customer = r.get_json()["id"]
    assert client.get(f"/api/v1/customers/{customer}", headers=ana).status_code == 404
    return ana, bo, customer


def test_enrolling_a_customer_one_cannot_read_is_refused_and_the_owner_can_still_enrol(
    client, two_departments
):
    ana, bo, customer = two_departments
    r = client.post(f"{L}/members", json={"customer_id": customer}, headers=ana)
    assert r.status_code == 422, r.get_json()
    out_of_scope = r.get_json()["errors"]["customer_id"]
    r = client.post(f"{L}/members", json={"customer_id": 987654}, headers=ana)
    assert r.status_code == 422, r.get_json()
    absent = r.get_json()["errors"]["customer_id"]
    # the same words for both: nothing tells a customer outside the scope from no customer
    assert out_of_scope == [absent[0].replace("987654", str(customer))]

    # nor can points be credited to it through an activity (which would enrol it)
    purchase = {"customer_id": customer, "kind": "purchase", "reference": "o-1", "amount": "100.00"}
    r = client.post(f"{L}/activities", json=purchase, headers=ana)
    assert r.status_code == 422 and "customer_id" in r.get_json()["errors"], r.get_json()
    r = client.post(f"{L}/activities", json={**purchase, "customer_id": 987654}, headers=ana)
    assert r.status_code == 422 and "customer_id" in r.get_json()["errors"], r.get_json()

    # the rightful department enrols and earns as usual: no 409 from a squatter
    r = client.post(f"{L}/members", json={"customer_id": customer}, headers=bo)
    assert r.status_code == 201, r.get_json()
    assert client.post(f"{L}/activities", json=purchase, headers=bo).status_code == 201
    assert client.get(f"{L}/members/{customer}", headers=bo).get_json()["points"]["balance"] == 100
    # and North still sees nothing of it
    assert client.get(f"{L}/members/{customer}", headers=ana).status_code == 404
    r = client.post(f"{L}/members", json={"customer_id": customer}, headers=ana)
    assert r.status_code == 422  # not 409: that the customer is a member is not revealed either


def test_an_order_event_for_an_unknown_customer_enrols_nobody(client, admin_headers):
    from crm_loyalty.models import Member

    with database.atomic():
        emit("order.paid", {"order_id": 1, "customer_id": 987654, "amount": "10.00", "currency": "CNY"})
    deliver_events()
    assert not Member.select().where(Member.customer_id == 987654).exists()
    pending = client.get("/api/v1/events", query_string={"status": "pending"}, headers=admin_headers)
    assert pending.status_code == 200 and pending.get_json() == []  # not retried forever


def test_the_database_refuses_a_member_without_a_customer(app):
    from crm_loyalty.models import Member

    with pytest.raises(pw.IntegrityError), database.atomic():
        Member.create(customer_id=987654, member_no="M-ORPHAN")
    assert not Member.select().where(Member.member_no == "M-ORPHAN").exists()


def test_a_member_customer_cannot_be_deleted_until_erased(client, admin_headers):
    customer = client.post("/api/v1/customers", json={"name": "Kept"}, headers=admin_headers).get_json()["id"]
    assert (
        client.post(f"{L}/members", json={"customer_id": customer}, headers=admin_headers).status_code == 201
    )
    body = {"points": 50, "reference": "gift", "reason": "welcome gift"}
    assert client.post(f"{L}/members/{customer}/adjust", json=body, headers=admin_headers).status_code == 201

    # ON DELETE RESTRICT: a hard delete would take the ledger with it, so it is refused
    assert client.delete(f"/api/v1/customers/{customer}", headers=admin_headers).status_code == 409
    assert client.get(f"{L}/members/{customer}", headers=admin_headers).get_json()["points"]["balance"] == 50

    # privacy erasure removes the membership on purpose; then the customer row may go
    assert client.post(f"/api/v1/customers/{customer}/erase", headers=admin_headers).status_code == 200
    assert client.get(f"{L}/members/{customer}", headers=admin_headers).status_code == 404
    assert client.delete(f"/api/v1/customers/{customer}", headers=admin_headers).status_code == 204


def _migration(name):
    spec = importlib.util.spec_from_file_location(name, MIGRATIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _loyalty_tables_before_the_key(tmp_path):
    """A scratch SQLite database with a customer table and loyalty migrations 0001-0002 applied."""
    from playhouse.migrate import SqliteMigrator

    db = pw.SqliteDatabase(str(tmp_path / "fk.db"), pragmas={"foreign_keys": 1})
    db.execute_sql('CREATE TABLE "customer" ("id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(200))')
    migrator = SqliteMigrator(db)
    for name in ("0001_initial", "0002_reversal_requested"):
        _migration(name).up(migrator, db)
    db.execute_sql("INSERT INTO customer (id, name) VALUES (1, 'Ann')")
    for member_id, customer_id in ((1, 1), (2, 99)):
        db.execute_sql(
            "INSERT INTO loyalty_member (id, created_at, updated_at, custom, customer_id, member_no, "
            "joined_at, channel) VALUES (?, '2026-01-01', '2026-01-01', '{}', ?, ?, '2026-01-01', '')",
            (member_id, customer_id, f"M{member_id}"),
        )
        db.execute_sql(
            "INSERT INTO loyalty_entry (created_at, updated_at, member_id, kind, points, reference, "
            "reason, outstanding, requested) VALUES ('2026-01-01', '2026-01-01', ?, 'adjust', 70, 'r', '', 0, 0)",
            (member_id,),
        )
    return db, migrator


def test_the_migration_refuses_orphan_members_and_keeps_their_ledger(tmp_path):
    db, migrator = _loyalty_tables_before_the_key(tmp_path)
    fk = _migration("0003_member_customer_fk")
    orphan = r"member 2 \(M2\) -> customer 99: 1 ledger entries, balance 70"
    with pytest.raises(fk.OrphanMembers, match=orphan), migrator.migration_context():
        fk.up(migrator, db)
    assert db.execute_sql("SELECT COUNT(*) FROM loyalty_member").fetchone()[0] == 2
    assert db.execute_sql("SELECT COUNT(*) FROM loyalty_entry").fetchone()[0] == 2
    assert all(row[2] != "customer" for row in db.execute_sql("PRAGMA foreign_key_list('loyalty_member')"))

    # once the customer is restored, the key is added and every row and index survives the rebuild
    db.execute_sql("INSERT INTO customer (id, name) VALUES (99, 'Restored')")
    with migrator.migration_context():
        fk.up(migrator, db)
    keys = [
        (row[2], row[3], row[4], row[6])
        for row in db.execute_sql("PRAGMA foreign_key_list('loyalty_member')")
    ]
    assert ("customer", "customer_id", "id", "RESTRICT") in keys
    assert db.execute_sql("SELECT COUNT(*) FROM loyalty_member").fetchone()[0] == 2
    assert db.execute_sql("SELECT COUNT(*) FROM loyalty_entry").fetchone()[0] == 2
    indexes = {row[1] for row in db.execute_sql("PRAGMA index_list('loyalty_member')")}
    assert {"loyalty_member_customer_id", "loyalty_member_member_no"} <= indexes
    with pytest.raises(pw.IntegrityError):
        db.execute_sql("DELETE FROM customer WHERE id = 99")
    db.close()


def audit(client, headers, **params):
    r = client.get("/api/v1/audit", query_string=params, headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_points_tier_and_programme_writes_are_audited(client, make_user):
    admin, headers = make_user("auditing_admin")
    customer = client.post("/api/v1/customers", json={"name": "Audited"}, headers=headers).get_json()["id"]
    for tier in (
        {"code": "base", "name": "Base", "rank": 1, "window": "lifetime"},
        {"code": "vip", "name": "VIP", "rank": 2, "window": "lifetime", "threshold": "100000"},
    ):
        assert client.post(f"{L}/tiers", json=tier, headers=headers).status_code == 201
    assert client.post(f"{L}/members", json={"customer_id": customer}, headers=headers).status_code == 201

    adjust = {"points": 100, "reference": "a-1", "reason": "goodwill"}
    r = client.post(f"{L}/members/{customer}/adjust", json=adjust, headers=headers)
    credit = r.get_json()["entry"]["id"]
    r = client.post(
        f"{L}/members/{customer}/adjust", json={**adjust, "points": -10, "reference": "a-2"}, headers=headers
    )
    deduction = r.get_json()["entry"]["id"]
    r = client.post(
        f"{L}/members/{customer}/redeem", json={"points": 30, "reference": "r-1"}, headers=headers
    )
    redemption = r.get_json()["entry"]["id"]
    body = {"entry_id": redemption, "reference": "v-1", "reason": "order cancelled"}
    r = client.post(f"{L}/members/{customer}/reverse", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    reversal = r.get_json()["entry"]["id"]
    # a repeat changes nothing and is not logged again
    assert (
        client.post(
            f"{L}/members/{customer}/redeem", json={"points": 30, "reference": "r-1"}, headers=headers
        ).status_code
        == 200
    )

    entries = audit(client, headers, resource="loyalty.points")
    by_record = {e["record_id"]: e for e in entries}
    assert set(by_record) == {str(credit), str(deduction), str(redemption), str(reversal)}
    assert len(entries) == 4
    for entry in entries:
        assert entry["action"] == "create" and entry["actor_id"] == admin.id
        assert entry["after"]["customer_id"] == customer
    assert by_record[str(redemption)]["after"]["kind"] == "redeem"
    assert by_record[str(redemption)]["after"]["points"] == -30
    assert by_record[str(reversal)]["after"]["reverses_id"] == redemption
    assert by_record[str(deduction)]["after"]["points"] == -10

    r = client.patch(
        f"{L}/members/{customer}", json={"tier": "vip", "reason": "board decision"}, headers=headers
    )
    assert r.status_code == 200 and r.get_json()["tier"] == "vip"
    member_id = r.get_json()["id"]
    (change,) = [e for e in audit(client, headers, resource="loyalty.members", action="update")]
    assert change["record_id"] == str(member_id) and change["actor_id"] == admin.id
    assert change["before"]["tier"] == "base" and change["after"]["tier"] == "vip"
    assert change["after"]["reason"] == "board decision"

    r = client.patch(f"{L}/program", json={"pending_days": 14, "refund_policy": "clawback"}, headers=headers)
    assert r.status_code == 200 and r.get_json()["pending_days"] == 14
    (settings,) = audit(client, headers, resource="loyalty.program")
    assert (
        settings["action"] == "update" and settings["record_id"] == "1" and settings["actor_id"] == admin.id
    )
    assert settings["before"]["pending_days"] == 0 and settings["after"]["pending_days"] == 14
    assert settings["after"]["refund_policy"] == "clawback"


def test_an_api_purchase_is_audited_with_its_earning(client, make_user):
    admin, headers = make_user("till")
    customer = client.post("/api/v1/customers", json={"name": "Buyer"}, headers=headers).get_json()["id"]
    client.post(f"{L}/rules", json={"name": "1 per unit", "kind": "purchase", "rate": "1"}, headers=headers)
    body = {"customer_id": customer, "kind": "purchase", "reference": "o-9", "amount": "25.00"}
    r = client.post(f"{L}/activities", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    earned = [e for e in audit(client, headers, resource="loyalty.points") if e["after"]["kind"] == "earn"]
    assert [(e["after"]["points"], e["actor_id"]) for e in earned] == [(25, admin.id)]


def test_a_redemption_stays_lean(client, admin_headers, db):
    """Statements of one redemption as production runs it (its own app context: nothing cached in
    ``g`` by earlier requests; per-app caches warm): the audit capability's, and 10 more."""
    customer = client.post("/api/v1/customers", json={"name": "Lean"}, headers=admin_headers).get_json()["id"]
    assert (
        client.post(f"{L}/members", json={"customer_id": customer}, headers=admin_headers).status_code == 201
    )
    body = {"points": 1000, "reference": "seed", "reason": "to spend"}
    assert client.post(f"{L}/members/{customer}/adjust", json=body, headers=admin_headers).status_code == 201
    warm = {"points": 1, "reference": "warm"}
    assert client.post(f"{L}/members/{customer}/redeem", json=warm, headers=admin_headers).status_code == 201
    # (statements deferred to travel with the next one, PostgreSQL's audit entry and outbox
    # row, are statements all the same)
    r, statements = statements_of(
        db,
        lambda: client.post(
            f"{L}/members/{customer}/redeem", json={"points": 1, "reference": "r"}, headers=admin_headers
        ),
    )
    assert r.status_code == 201
    inserts = [s for s in statements if s.startswith("INSERT")]
    # (on PostgreSQL the entry's INSERT travels with the chain head's UPDATE, one round trip)
    assert sum('INSERT INTO "audit_entry"' in s for s in statements) == 1
    # the audit capability's own statements (entry, chain head) are its business; the rest: the
    # token with the permission revision (grants and field rules come from the worker's cache
    # behind it), the member with its customer, the member's entries and lots, the entry, the lot update,
    # the allocation, the balance and the outbox row, whose points.redeemed is the only event (no
    # loyalty.points.created)
    ours = [s for s in statements if "audit_" not in s]
    # (on PostgreSQL the token's kept revision is assumed, checked with the first statement)
    assert len(ours) == (8 if hasattr(db, "expect") else 9), ours
    outbox = [s for s in inserts if '"event_outbox"' in s]
    assert len(outbox) == 1, outbox
