"""The list page's bulk bar (Flask test client, SQLite and PostgreSQL): bulk tag and bulk "Assign
to" run one batch through the write path (``records.bulk_update``), each record checked against
the user's update scope and audited once; the owner picker offers only users the user may
assign to; messages in English and Chinese."""

from __future__ import annotations

import re

import pytest

from crm_core.audit import verify
from crm_core.audit.models import AuditEntry
from crm_core.auth.models import Role
from crm_core.browser_testing import csrf_from, web_login
from crm_core.directory.departments import create_department
from crm_core.entities.models import Customer
from crm_core.permissions.models import FieldRule, Grant

FLASH = re.compile(r'class="crm-flash crm-flash-(\w+)" role="status">([^<]*)<')


@pytest.fixture
def office(app, make_user):
    """Two departments; an admin, two sales reps in the north and one in the south, customers
    of each rep, and every user able to log in to the workbench."""
    north, south = create_department("North"), create_department("South")
    admin, admin_h = make_user("boss", roles=("admin",), name="Boss")
    rep, _ = make_user("rep", roles=("sales",), department_id=north.id, name="Rep North")
    mate, _ = make_user("mate", roles=("sales",), department_id=north.id, name="Mate North")
    far, _ = make_user("far", roles=("sales",), department_id=south.id, name="Rep South")
    api = app.test_client()

    def customer(name, owner):
        r = api.post("/api/v1/customers", json={"name": name, "owner_id": owner.id}, headers=admin_h)
        assert r.status_code == 201, r.get_json()
        return r.get_json()["id"]

    ids = {
        "rep": [customer("Rep one", rep), customer("Rep two", rep)],
        "mate": [customer("Mate one", mate)],
        "far": [customer("Far one", far)],
    }
    return {"admin": admin, "rep": rep, "mate": mate, "far": far, "north": north, "south": south, "ids": ids}


def _post(client, action, data, language="en"):
    token = csrf_from(client, "/records/customers/")
    r = client.post(
        f"/records/customers/{action}",
        data={"csrf_token": token, **data},
        headers={"Accept-Language": language},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    page = client.get(r.headers["Location"], headers={"Accept-Language": language}).get_data(as_text=True)
    return FLASH.findall(page)


def _updates(ids):
    keys = [str(i) for i in ids]
    return AuditEntry.select().where(AuditEntry.action == "update", AuditEntry.record_id.in_(keys)).count()


@pytest.mark.parametrize(
    "language, tagged, refused",
    [
        ("en", "Tagged 2 record(s).", "2 record(s) could not be tagged."),
        ("zh-CN", "已为 2 条记录加标签。", "2 条记录无法加标签。"),
    ],
)
def test_bulk_tag_is_one_batch_and_refuses_others_records(client, office, language, tagged, refused):
    web_login(client, "rep")
    mine, mate, far = office["ids"]["rep"], office["ids"]["mate"], office["ids"]["far"]
    flashes = _post(client, "bulk-tag", {"ids": [*mine, *mate, *far], "tag": "promo"}, language)
    assert flashes == [("success", tagged), ("warning", refused)]
    assert [Customer.get_by_id(i).tags for i in mine] == [["promo"], ["promo"]]
    assert Customer.get_by_id(mate[0]).tags == [] and Customer.get_by_id(far[0]).tags == []
    assert _updates(mine) == 2 and _updates([*mate, *far]) == 0
    # again: already tagged, so counted as done and nothing is written
    assert _post(client, "bulk-tag", {"ids": mine, "tag": "promo"}, language) == [("success", tagged)]
    assert _updates(mine) == 2
    assert verify().ok


@pytest.mark.parametrize(
    "language, assigned",
    [("en", "Assigned 2 record(s) to Rep South."), ("zh-CN", "已将 2 条记录分配给 Rep South。")],
)
def test_bulk_assign_moves_records_to_the_owner_and_department(client, office, language, assigned):
    web_login(client, "boss")
    ids = office["ids"]["rep"]
    assert _post(client, "bulk-assign", {"ids": ids, "owner_id": office["far"].id}, language) == [
        ("success", assigned)
    ]
    for record_id in ids:
        record = Customer.get_by_id(record_id)
        assert (record.owner_id, record.department_id) == (office["far"].id, office["south"].id)
    assert _updates(ids) == 2 and verify().ok


@pytest.mark.parametrize(
    "data, message",
    [
        ({"owner_id": ""}, "Choose records and an owner."),
        ({"owner_id": "abc"}, "Choose records and an owner."),
        ({"owner_id": "987654"}, "No active user 987654 that you can read."),
        ({"owner_id": "far"}, "No active user {far} that you can read."),  # another department
        ({"owner_id": "mate"}, "Outside your own scope."),  # readable, but a rep assigns to nobody else
    ],
)
def test_a_sales_rep_may_assign_only_to_themselves(client, office, data, message):
    web_login(client, "rep")
    ids = office["ids"]["rep"]
    owner = data["owner_id"]
    if owner in ("far", "mate"):
        owner = str(office[owner].id)
        message = message.format(far=owner)
    flashes = _post(client, "bulk-assign", {"ids": ids, "owner_id": owner})
    assert flashes == [("error", message)]
    assert {Customer.get_by_id(i).owner_id for i in ids} == {office["rep"].id}
    assert _updates(ids) == 0


def test_the_owner_picker_offers_only_owners_the_user_may_assign_to(client, office):
    web_login(client, "rep")
    html = client.get("/records/customers/").get_data(as_text=True)
    assert 'id="bulk-assign"' in html and 'id="bulk-tag"' in html
    assert "/lookup/users?assign=customers" in html
    offered = client.get("/lookup/users?assign=customers").get_json()["results"]
    assert [r["id"] for r in offered] == [office["rep"].id]
    readable = {r["id"] for r in client.get("/lookup/users").get_json()["results"]}
    assert {office["rep"].id, office["mate"].id} <= readable and office["far"].id not in readable


def test_no_assign_for_a_role_whose_owner_field_is_read_only(client, office, make_user):
    role = Role.create(name="tagger")
    for action in ("read", "update"):
        Grant.create(role=role, resource="customers", action=action, scope="all")
    Grant.create(role=role, resource="users", action="read", scope="all")
    FieldRule.create(role=role, resource="customers", field="owner_id", rule="read-only")
    make_user("tagger", roles=("tagger",), department_id=office["north"].id)
    web_login(client, "tagger")
    html = client.get("/records/customers/").get_data(as_text=True)
    assert 'id="bulk-tag"' in html and 'id="bulk-assign"' not in html
    ids = office["ids"]["rep"]
    flashes = _post(client, "bulk-assign", {"ids": ids, "owner_id": str(office["far"].id)})
    assert flashes == [("error", "This field is read-only for you.")]
    assert {Customer.get_by_id(i).owner_id for i in ids} == {office["rep"].id}
    # tagging is still open to the role
    assert _post(client, "bulk-tag", {"ids": ids, "tag": "ok"}) == [("success", "Tagged 2 record(s).")]
