"""Placement through the public API (issue 13): a record's department defaults to its owner's; a
writer puts a record, by API, workbench, import or reassignment, only in departments its scope
for that action covers, owned by someone it may assign to; a department given with an owner is
the owner's. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import types

import pytest

from crm_core.browser_testing import post_form, web_login
from crm_core.directory.departments import create_department
from crm_core.testing import follow_task

API = "/api/v1"


@pytest.fixture
def org(client, make_user):
    north = create_department("north")
    north_east = create_department("north east", north.id)
    south = create_department("south")
    _, admin = make_user("placer_admin")
    rep, rep_h = make_user("rep", roles=("sales",), department_id=north.id)
    boss, boss_h = make_user("boss", roles=("manager",), department_id=north.id)
    east, _ = make_user("east", roles=("sales",), department_id=north_east.id)
    southerner, _ = make_user("southerner", roles=("sales",), department_id=south.id)
    return types.SimpleNamespace(
        north=north,
        north_east=north_east,
        south=south,
        admin=admin,
        rep=rep,
        rep_h=rep_h,
        boss=boss,
        boss_h=boss_h,
        east=east,
        southerner=southerner,
    )


def create(client, headers, **body):
    return client.post(f"{API}/customers", json={"name": "placed", **body}, headers=headers)


def test_an_own_scope_writer_files_records_only_in_its_own_department(client, org):
    """Seen: a writer limited to its own records could file a record into any department."""
    r = create(client, org.rep_h, department_id=org.south.id)
    assert r.status_code in (403, 422) and "department_id" in r.get_json()["errors"], r.get_json()
    r = create(client, org.rep_h)
    assert r.status_code == 201
    assert (r.get_json()["owner_id"], r.get_json()["department_id"]) == (org.rep.id, org.north.id)
    # nor by giving it away to someone else
    r = create(client, org.rep_h, owner_id=org.southerner.id)
    assert r.status_code == 403 and "owner_id" in r.get_json()["errors"]


def test_an_admin_cannot_split_owner_and_department(client, org):
    """Seen: an admin could give a record an owner in one department and a department of another."""
    r = create(client, org.admin, owner_id=org.rep.id, department_id=org.south.id)
    assert r.status_code == 422 and "department_id" in r.get_json()["errors"], r.get_json()
    r = create(client, org.admin, owner_id=org.rep.id)
    assert r.status_code == 201 and r.get_json()["department_id"] == org.north.id


def test_a_manager_assigns_within_its_tree_and_the_department_follows_the_owner(client, org):
    r = create(client, org.boss_h)
    cid = r.get_json()["id"]
    r = client.patch(f"{API}/customers/{cid}", json={"owner_id": org.east.id}, headers=org.boss_h)
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["owner_id"], r.get_json()["department_id"]) == (org.east.id, org.north_east.id)
    r = client.patch(f"{API}/customers/{cid}", json={"owner_id": org.southerner.id}, headers=org.boss_h)
    assert r.status_code == 403 and "owner_id" in r.get_json()["errors"]
    r = client.patch(f"{API}/customers/{cid}", json={"department_id": org.south.id}, headers=org.boss_h)
    assert r.status_code in (403, 422) and "department_id" in r.get_json()["errors"]
    assert (
        client.get(f"{API}/customers/{cid}", headers=org.boss_h).get_json()["department_id"]
        == org.north_east.id
    )


def test_an_imported_row_cannot_be_filed_outside_the_scope(client, org):
    csv_text = f"姓名,部门\n在家,{org.north.id}\n越界,{org.south.id}\n"
    form = {"file": (io.BytesIO(csv_text.encode()), "people.csv"), "mode": "valid_only"}
    r = client.post(
        f"{API}/customers/import", data=form, headers=org.rep_h, content_type="multipart/form-data"
    )
    r = follow_task(client, r, org.rep_h)  # the import runs as a task, as its creator
    assert r.status_code == 200, r.get_json()
    report = r.get_json()
    assert report["imported"] == 1 and [e["row"] for e in report["errors"]] == [3]
    assert "department_id" in report["errors"][0]["errors"]
    names = [c["name"] for c in client.get(f"{API}/customers", headers=org.admin).get_json()]
    assert names == ["在家"]


def test_the_workbench_form_places_like_the_api(app, client, org):
    assert web_login(client, "rep").status_code == 302
    r = post_form(
        client, "/records/customers/new", {"name": "web placed", "department_id": str(org.south.id)}
    )
    assert r.status_code in (403, 422)
    listed = client.get(f"{API}/customers?q=web placed", headers=org.admin).get_json()
    assert listed == []
