"""``bulk.insert_one``: one row straight to the driver, what peewee's own insert would store,
with the statements that must run first in the same round trip on PostgreSQL."""

from __future__ import annotations

import peewee as pw
import pytest

from crm_core.audit.chain import verify
from crm_core.bulk import insert_one, insert_rows
from crm_core.entities.models import Customer, Tag

NAMES = ["plain", "100% 满意", "50%s off", "it's %(x)s", "back\\slash", "'; DROP TABLE tag; --"]


@pytest.mark.parametrize("name", NAMES)
def test_the_row_is_what_peewee_would_store(app, db, name):
    with app.app_context(), db.atomic():
        new_id = insert_one(Customer, {"name": name, "custom": {"note": name, "n": 1}})
        mine = Customer.get_by_id(new_id)
        theirs = Customer.create(name=name, custom={"note": name, "n": 1})
        assert (mine.name, mine.custom, mine.lifecycle_stage) == (name, {"note": name, "n": 1}, "lead")
        assert mine.lifecycle_stage == theirs.lifecycle_stage and mine.created_at is not None


def test_statements_before_run_first_in_order(app, db):
    with app.app_context(), db.atomic():
        tag = Tag.create(name="before-1")
        rename = Tag.update(name="before-2").where(Tag.id == tag.id).sql()
        # the second statement sees what the first one did; the insert comes last
        again = Tag.update(name=Tag.name.concat("%")).where(Tag.name == "before-2").sql()
        new_id = insert_one(Tag, {"name": "after %"}, before=[rename, again])
        assert Tag.get_by_id(tag.id).name == "before-2%"
        assert Tag.get_by_id(new_id).name == "after %"


def test_a_conflict_raises_integrity_error(app, db):
    with app.app_context():
        Tag.create(name="taken")
        with pytest.raises(pw.IntegrityError), db.atomic():
            insert_one(Tag, {"name": "taken"})


def test_audited_writes_with_percent_signs_keep_the_chain(client, admin_headers, app):
    for name in NAMES:
        r = client.post("/api/v1/customers", json={"name": name}, headers=admin_headers)
        assert r.status_code == 201, r.get_json()
    entries = client.get("/api/v1/audit?resource=customers", headers=admin_headers).get_json()
    assert {e["after"]["name"] for e in entries if e["action"] == "create"} >= set(NAMES)
    with app.app_context():
        result = verify()
    assert result.ok, result


TRICKY = ["tab\there", "line\nbreak", "cr\rhere", "back\\slash", "\\N", "", "引号'\"", "100%"]


@pytest.mark.parametrize("returning", [True, False])
def test_insert_rows_stores_tricky_text_either_way(app, db, returning):
    with app.app_context(), db.atomic():
        rows = [(f"{i}:{text}", {"note": text, "n": i, "ok": True}) for i, text in enumerate(TRICKY)]
        ids = insert_rows(Customer, ["name", "custom"], rows, returning=returning)
        assert (len(ids) == len(rows)) if returning else ids == []
        stored = {c.name: c.custom for c in Customer.select()}
        for name, custom in rows:
            assert stored[name] == custom


def test_insert_rows_gives_each_row_its_own_id_in_order(app, db):
    with app.app_context():
        before = Customer.create(name="before the chunk").id
        with db.atomic():
            rows = [(f"row {i}", {"i": i}) for i in range(50)]
            ids = insert_rows(Customer, ["name", "custom"], rows)
        after = Customer.create(name="after the chunk").id  # the sequence moved past the chunk
        assert ids == sorted(ids) and len(set(ids)) == 50 and before < ids[0] and ids[-1] < after
        stored = {c.id: (c.name, c.custom) for c in Customer.select().where(Customer.id.in_(ids))}
        assert [stored[i] for i in ids] == [(name, custom) for name, custom in rows]
