"""``POST /api/v1/customers/bulk-update``: tags added and removed and owners set for many customers
in one transaction and one batch (one audit entry and one ``customer.updated`` event per changed
record, none for an unchanged one, the audit head moved once), each record checked as a PATCH
would be, refusals per record without revealing records the caller cannot read, and bad bodies
answered 422 per field in the caller's language."""

import json
import re

import pytest

from crm_core.audit import verify
from crm_core.audit.models import AuditEntry
from crm_core.auth.models import Role
from crm_core.directory.departments import create_department
from crm_core.entities.models import Customer
from crm_core.events.models import OutboxEvent
from crm_core.permissions.models import FieldRule, Grant
from crm_core.records.bulk_update import MAX_IDS
from crm_core.testing import statements_of

URL = "/api/v1/customers/bulk-update"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _create(client, headers, name, **extra):
    r = client.post("/api/v1/customers", json={"name": name, **extra}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _trail(ids):
    """(update audit entries, customer.updated events) per customer id."""
    keys = [str(i) for i in ids]
    audit = AuditEntry.select(AuditEntry.record_id).where(
        AuditEntry.resource == "customers", AuditEntry.action == "update", AuditEntry.record_id.in_(keys)
    )
    events = OutboxEvent.select(OutboxEvent.record_id).where(
        OutboxEvent.type == "customer.updated", OutboxEvent.record_id.in_(keys)
    )
    count = lambda rows: {i: sum(1 for r in rows if r.record_id == str(i)) for i in ids}  # noqa: E731
    return count(list(audit)), count(list(events))


@pytest.fixture
def world(client, make_user, admin_headers):
    north, south = create_department("north"), create_department("south")
    rep, rep_headers = make_user("rep_n", roles=("sales",), department_id=north.id)
    other_rep, _ = make_user("rep_n2", roles=("sales",), department_id=north.id)
    southerner, _ = make_user("rep_s", roles=("sales",), department_id=south.id)
    return {
        "admin": admin_headers,
        "north": north,
        "south": south,
        "rep": rep,
        "rep_headers": rep_headers,
        "other_rep": other_rep,
        "southerner": southerner,
    }


def test_tags_added_and_removed_with_one_entry_and_event_per_changed_record(client, app, world):
    admin = world["admin"]
    a = _create(client, admin, "a", tags=["old"])
    b = _create(client, admin, "b", tags=["old", "vip"])
    c = _create(client, admin, "c", tags=["vip"])  # already as asked: unchanged
    ids = [a["id"], b["id"], c["id"]]

    def send():
        return client.post(URL, json={"ids": ids, "add_tags": ["vip"], "remove_tags": ["old"]}, headers=admin)

    r, sql = statements_of(app.extensions["crm"].db, send)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body == {
        "updated": [a["id"], b["id"]],
        "unchanged": [c["id"]],
        "refused": [],
        "counts": {"updated": 2, "unchanged": 1, "refused": 0},
    }
    for record in (a, b, c):
        assert Customer.get_by_id(record["id"]).tags == ["vip"]
    audit, events = _trail(ids)
    assert audit == {a["id"]: 1, b["id"]: 1, c["id"]: 0}
    assert events == {a["id"]: 1, b["id"]: 1, c["id"]: 0}
    # the batch reserves its two chain positions at once: the head moves once for the request
    assert [s for s in sql if "audit_head" in s and "seq + " in s] == [
        "UPDATE audit_head SET seq = seq + 2 WHERE id = 1 RETURNING seq, hash, mac, key_id"
    ]
    entry = AuditEntry.get(AuditEntry.record_id == str(a["id"]), AuditEntry.action == "update")
    assert json.loads(entry.before)["tags"] == ["old"] and json.loads(entry.after)["tags"] == ["vip"]
    assert verify().ok


def test_owner_set_moves_records_to_the_owners_department(client, world):
    admin, south, southerner = world["admin"], world["south"], world["southerner"]
    a = _create(client, admin, "a", department_id=world["north"].id)
    b = _create(client, admin, "b", owner_id=southerner.id)
    r = client.post(URL, json={"ids": [a["id"], b["id"]], "owner_id": southerner.id}, headers=admin)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["updated"] == [a["id"]] and r.get_json()["unchanged"] == [b["id"]]
    moved = Customer.get_by_id(a["id"])
    assert (moved.owner_id, moved.department_id) == (southerner.id, south.id)
    event = OutboxEvent.get(OutboxEvent.record_id == str(a["id"]), OutboxEvent.type == "customer.updated")
    assert event.data["object"]["owner_id"] == southerner.id
    assert {"owner_id", "department_id"} <= set(event.data["changed"])
    assert _trail([b["id"]]) == ({b["id"]: 0}, {b["id"]: 0})
    assert verify().ok


def test_a_sales_rep_changes_their_own_and_learns_nothing_of_others(client, world):
    admin, rep, rep_headers = world["admin"], world["rep"], world["rep_headers"]
    mine = _create(client, rep_headers, "mine")
    colleagues = _create(client, admin, "colleague's", owner_id=world["other_rep"].id)
    far = _create(client, admin, "south's", owner_id=world["southerner"].id)
    missing = far["id"] + 1000
    r = client.post(
        URL,
        json={"ids": [mine["id"], colleagues["id"], far["id"], missing], "add_tags": ["hot"]},
        headers=rep_headers,
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["updated"] == [mine["id"]] and body["counts"]["refused"] == 3
    refused = {item["id"]: item for item in body["refused"]}
    # readable (same department) but not the rep's: 403; the other department's and one that
    # does not exist read alike, so the answer says nothing about whether a record is there
    assert refused[colleagues["id"]]["code"] == 403
    assert refused[far["id"]]["code"] == refused[missing]["code"] == 404
    assert refused[far["id"]]["message"].replace(str(far["id"]), "N") == refused[missing]["message"].replace(
        str(missing), "N"
    )
    assert Customer.get_by_id(far["id"]).tags == [] and Customer.get_by_id(colleagues["id"]).tags == []
    assert _trail([colleagues["id"], far["id"]])[0] == {colleagues["id"]: 0, far["id"]: 0}
    # the rep may assign only to themselves: a colleague is refused for the whole request
    r = client.post(URL, json={"ids": [mine["id"]], "owner_id": world["other_rep"].id}, headers=rep_headers)
    assert r.status_code == 403 and "owner_id" in r.get_json()["errors"]
    # a user outside what the rep may read reads like one that does not exist: 422 on owner_id
    for unknown in (world["southerner"].id, 987654):
        r = client.post(URL, json={"ids": [mine["id"]], "owner_id": unknown}, headers=rep_headers)
        assert r.status_code == 422 and list(r.get_json()["errors"]) == ["owner_id"]
        assert r.get_json()["errors"]["owner_id"] == [f"No active user {unknown} that you can read."]
    assert Customer.get_by_id(mine["id"]).owner_id == rep.id
    assert verify().ok


@pytest.mark.parametrize(
    "rule, body, field",
    [
        ("read-only", {"owner_id": None}, "owner_id"),
        ("hidden", {"owner_id": None}, "owner_id"),
        ("read-only", {"add_tags": ["x"]}, "tags"),
    ],
)
def test_a_field_rule_that_forbids_the_field_refuses_the_request(client, make_user, world, rule, body, field):
    role = Role.create(name=f"no_{field}_{rule}")
    Grant.create(role=role, resource="customers", action="read", scope="all")
    Grant.create(role=role, resource="customers", action="update", scope="all")
    Grant.create(role=role, resource="users", action="read", scope="all")
    FieldRule.create(role=role, resource="customers", field=field, rule=rule)
    _user, headers = make_user(f"ruled_{field}_{rule}", roles=(role.name,), department_id=world["north"].id)
    record = _create(client, world["admin"], "ruled")
    if "owner_id" in body:
        body = {"owner_id": world["southerner"].id}
    r = client.post(URL, json={"ids": [record["id"]], **body}, headers=headers)
    assert r.status_code == 403, r.get_json()
    assert field in r.get_json()["errors"]
    stored = Customer.get_by_id(record["id"])
    assert stored.tags == [] and stored.owner_id != world["southerner"].id
    assert _trail([record["id"]]) == ({record["id"]: 0}, {record["id"]: 0})


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "ids"),
        ({"ids": [], "add_tags": ["x"]}, "ids"),
        ({"ids": list(range(1, MAX_IDS + 2)), "add_tags": ["x"]}, "ids"),
        ({"ids": ["one"], "add_tags": ["x"]}, "ids"),
        ({"ids": [0], "add_tags": ["x"]}, "ids"),
        ({"ids": [1], "add_tags": "x"}, "add_tags"),
        ({"ids": [1], "add_tags": [""]}, "add_tags"),
        ({"ids": [1], "remove_tags": ["   "]}, "remove_tags"),
        ({"ids": [1], "add_tags": ["x" * 101]}, "add_tags"),
        ({"ids": [1], "owner_id": "5"}, "owner_id"),
        ({"ids": [1]}, "_schema"),
        ({"ids": [1], "add_tags": [], "remove_tags": []}, "_schema"),
        ({"ids": [1], "add_tags": ["x"], "remove_tags": ["x"]}, "remove_tags"),
        ({"ids": [1], "add_tags": ["x"], "colour": "red"}, "colour"),
    ],
)
@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_bad_bodies_are_422_per_field_in_the_callers_language(client, admin_headers, body, field, language):
    r = client.post(URL, json=body, headers={**admin_headers, "Accept-Language": language})
    assert r.status_code == 422, r.get_json()
    errors = r.get_json()["errors"]
    assert field in errors, errors
    text = str(errors[field])
    assert bool(CJK.search(text)) == (language == "zh-CN"), text
    assert AuditEntry.select().where(AuditEntry.action == "update").count() == 0


def test_an_idempotency_key_replays_the_first_answer(client, admin_headers):
    record = _create(client, admin_headers, "once")
    headers = {**admin_headers, "Idempotency-Key": "bulk-1"}
    body = {"ids": [record["id"]], "add_tags": ["a"]}
    first = client.post(URL, json=body, headers=headers)
    again = client.post(URL, json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json() and first.get_json()["updated"] == [record["id"]]
    assert _trail([record["id"]]) == ({record["id"]: 1}, {record["id"]: 1})
    other = client.post(URL, json={**body, "add_tags": ["b"]}, headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["errors"]


def test_refusals_are_in_the_callers_language_and_the_route_is_documented(client, admin_headers):
    r = client.post(
        URL, json={"ids": [999999], "add_tags": ["x"]}, headers={**admin_headers, "Accept-Language": "zh-CN"}
    )
    assert r.status_code == 200
    (refusal,) = r.get_json()["refused"]
    assert refusal["id"] == 999999 and refusal["code"] == 404 and CJK.search(refusal["message"])
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/customers/bulk-update"]["post"]
    assert "200" in operation["responses"] and "422" in operation["responses"]
    schema = spec["components"]["schemas"]["BulkUpdate"]
    assert schema["required"] == ["ids"] and schema["properties"]["ids"]["maxItems"] == MAX_IDS


@pytest.mark.parametrize(
    "roles, change, code, field",
    [
        ("readonly", {"add_tags": ["x"]}, 403, None),  # no update grant: the request is refused
        ("service", {"owner_id": "southerner"}, 422, "owner_id"),  # a user it cannot read
        ("manager", {"owner_id": "southerner"}, 403, "owner_id"),  # readable, outside its tree
    ],
)
def test_requests_the_actor_may_not_make_write_nothing(client, make_user, world, roles, change, code, field):
    record = _create(client, world["admin"], "guarded", department_id=world["north"].id)
    granted = (roles,)
    if roles == "manager":  # a manager of the north who may read every user, but assign only there
        role = Role.create(name="user_reader")
        Grant.create(role=role, resource="users", action="read", scope="all")
        granted = ("manager", "user_reader")
    _user, headers = make_user(f"guard_{roles}", roles=granted, department_id=world["north"].id)
    body = {"ids": [record["id"]], **change}
    if body.get("owner_id") == "southerner":
        body["owner_id"] = world["southerner"].id
    r = client.post(URL, json=body, headers=headers)
    assert r.status_code == code, r.get_json()
    if field is None:
        assert r.get_json()["message"] == "Not allowed: customers:update."
    else:
        assert field in r.get_json()["errors"]
    stored = Customer.get_by_id(record["id"])
    assert stored.tags == [] and stored.owner_id != world["southerner"].id
    assert _trail([record["id"]]) == ({record["id"]: 0}, {record["id"]: 0})
