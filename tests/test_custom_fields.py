"""Custom fields through the API on SQLite and PostgreSQL: definition CRUD, validation of every
type, uniqueness, filters and sorts, field-level permissions, safe definition changes, indexes."""

from __future__ import annotations

import peewee as pw
import pytest

from crm_core.auth.models import Role
from crm_core.permissions.models import FieldRule, Grant

F = "/api/v1/fields/customers"
C = "/api/v1/customers"


def define(client, headers, entity="customers", **spec):
    r = client.post(f"/api/v1/fields/{entity}", json=spec, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def customer(client, headers, name="c", **custom):
    return client.post(C, json={"name": name, "custom": custom}, headers=headers)


# --- definition CRUD -----------------------------------------------------------------------------


def test_definition_crud(client, admin_headers):
    body = define(
        client,
        admin_headers,
        name="credit_score",
        type="int",
        label={"en": "Credit score", "zh-CN": "信用评分"},
        help="0 to 1000",
        min=0,
        max=1000,
        filterable=True,
        position=2,
    )
    assert body["label"] == {"en": "Credit score", "zh-CN": "信用评分"}
    assert (body["min"], body["max"], body["filterable"]) == (0, 1000, True)
    define(
        client, admin_headers, name="level", type="choice", choices=["gold", {"value": "silver"}], position=1
    )

    listed = client.get(F, headers=admin_headers).get_json()
    assert [f["name"] for f in listed] == ["level", "credit_score"]  # by position
    assert listed[0]["choices"][1] == {"value": "silver", "label": {"en": "silver", "zh-CN": "silver"}}

    r = client.patch(f"{F}/credit_score", json={"label": {"en": "Score"}, "max": 900}, headers=admin_headers)
    assert r.status_code == 200
    assert r.get_json()["label"] == {"en": "Score", "zh-CN": "信用评分"} and r.get_json()["max"] == 900
    assert client.get(f"{F}/credit_score", headers=admin_headers).get_json()["max"] == 900

    assert client.delete(f"{F}/credit_score", headers=admin_headers).status_code == 204
    assert client.get(f"{F}/credit_score", headers=admin_headers).status_code == 404
    deleted = client.get(f"{F}?deleted=true", headers=admin_headers).get_json()
    assert [(f["name"], f["deleted"]) for f in deleted] == [("level", False), ("credit_score", True)]
    assert client.get("/api/v1/fields/no_such_entity", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    "spec, field, message",
    [
        ({"name": "email", "type": "string"}, "name", "taken"),  # a core field of customers
        ({"name": "page", "type": "string"}, "name", "taken"),  # a list parameter
        ({"name": "Bad-Name", "type": "string"}, "name", "a-z"),
        ({"name": "a__b", "type": "string"}, "name", "__"),
        ({"name": "abc\n", "type": "string"}, "name", "a-z"),
        ({"name": "x", "type": "string", "label": "bad\x00label"}, "label", "NUL"),
        ({"name": "x", "type": "float"}, "type", "one of"),
        ({"name": "x", "type": "choice"}, "choices", "needs choices"),
        ({"name": "x", "type": "int", "min": 5, "max": 1}, "min", "exceed"),
        ({"name": "x", "type": "string", "min": 1}, "min", "int and decimal"),
        ({"name": "x", "type": "int", "default": "many"}, "default", "integer"),
        ({"name": "x", "type": "string", "regex": "("}, "regex", "pattern"),
        ({"name": "x", "type": "reference"}, "reference", "entity"),
        ({"name": "x", "type": "bool", "unique": True}, "unique", "cannot be unique"),
        ({"name": "x", "type": "text", "filterable": True}, "filterable", "indexed"),
        ({"name": "x", "type": "string", "colour": "red"}, "colour", "Unknown"),
    ],
)
def test_bad_definitions_are_refused(client, admin_headers, spec, field, message):
    r = client.post(F, json=spec, headers=admin_headers)
    assert r.status_code == 422, r.get_json()
    errors = r.get_json()["errors"]
    assert field in errors and message in " ".join(errors[field]), errors


def test_duplicate_definition_conflicts(client, admin_headers):
    define(client, admin_headers, name="code", type="string")
    assert client.post(F, json={"name": "code", "type": "int"}, headers=admin_headers).status_code == 409


# --- validation of every type --------------------------------------------------------------------

COMPANY = object()  # replaced by a real company id

TYPE_CASES = [
    # type, definition extras, valid input, stored value, invalid input
    ("string", {"max_length": 5}, "abc", "abc", "too long"),
    ("string", {"regex": "[A-Z]{2}\\d+"}, "AB12", "AB12", "AB12x"),
    ("text", {}, "长文本 long text", "长文本 long text", 12),
    ("int", {"min": 0, "max": 10}, "7", 7, 7.5),
    ("int", {"min": 0, "max": 10}, 10, 10, 11),
    ("int", {}, "9223372036854775807", 2**63 - 1, "9223372036854775808"),  # BIGINT bounds
    ("decimal", {"min": "0.5"}, "12.50", "12.50", "0.1"),
    ("decimal", {}, 3, "3", "abc"),
    ("bool", {}, True, True, "maybe"),
    ("date", {}, "2026-02-03", "2026-02-03", "2026-02-30"),
    ("datetime", {}, "2026-02-03T10:00:00+08:00", "2026-02-03T02:00:00Z", "yesterday"),
    ("choice", {"choices": ["a", "b"]}, "b", "b", "c"),
    ("multi-choice", {"choices": ["a", "b", "c"]}, ["c", "a", "c"], ["a", "c"], ["x"]),
    ("reference", {"reference": "companies"}, COMPANY, COMPANY, 999999),
    ("email", {}, "Zhang.San@Example.com", "zhang.san@example.com", "not-an-email"),
    ("phone", {}, "138 0013 8000", "+8613800138000", "12345"),
    ("url", {}, "https://example.com/a?b=1", "https://example.com/a?b=1", "ftp://example.com"),
]


@pytest.mark.parametrize("kind, extra, valid, stored, invalid", TYPE_CASES, ids=lambda v: str(v)[:20])
def test_every_type_valid_invalid_missing_null(client, admin_headers, kind, extra, valid, stored, invalid):
    if valid is COMPANY:
        r = client.post("/api/v1/companies", json={"name": "ACME"}, headers=admin_headers)
        assert r.status_code == 201, r.get_json()
        valid = stored = r.get_json()["id"]
    define(client, admin_headers, name="opt", type=kind, **extra)
    define(client, admin_headers, name="req", type=kind, required=True, **extra)

    r = customer(client, admin_headers, opt=valid, req=valid)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["custom"]["opt"] == stored and r.get_json()["custom"]["req"] == stored

    r = customer(client, admin_headers, opt=invalid, req=valid)  # invalid
    assert r.status_code == 422 and "custom.opt" in r.get_json()["errors"], r.get_json()

    r = customer(client, admin_headers, opt=valid)  # required one missing
    assert r.status_code == 422 and "custom.req" in r.get_json()["errors"]

    r = customer(client, admin_headers, opt=None, req=valid)  # null clears an optional field
    assert r.status_code == 201 and r.get_json()["custom"]["opt"] is None

    r = customer(client, admin_headers, req=None)  # a required field may not be null
    assert r.status_code == 422 and "custom.req" in r.get_json()["errors"]


def test_nul_characters_are_refused_not_500(client, admin_headers):
    define(client, admin_headers, name="nick", type="string")
    define(client, admin_headers, name="kind", type="choice", choices=["a"])
    for custom in ({"nick": "a\x00b"}, {"kind": "a\x00"}):
        r = customer(client, admin_headers, **custom)
        assert r.status_code == 422, r.get_json()
    assert client.get(f"{C}?nick=a%00b", headers=admin_headers).status_code == 400
    r = client.post("/api/v1/objects", json={"name": "t", "label": "x\x00"}, headers=admin_headers)
    assert r.status_code == 422


def test_defaults_unknown_keys_and_partial_updates(client, admin_headers):
    define(client, admin_headers, name="tier", type="choice", choices=["basic", "pro"], default="basic")
    define(client, admin_headers, name="visits", type="int", required=True, default=0)
    r = customer(client, admin_headers)
    assert r.get_json()["custom"] == {"tier": "basic", "visits": 0}
    cid = r.get_json()["id"]

    r = customer(client, admin_headers, no_such=1)
    assert r.status_code == 422 and "custom.no_such" in r.get_json()["errors"]
    assert "no_such" in r.get_json()["message"]

    r = client.patch(f"{C}/{cid}", json={"custom": {"visits": 3}}, headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["custom"] == {"tier": "basic", "visits": 3}
    r = client.patch(f"{C}/{cid}", json={"custom": {"visits": -1.5}}, headers=admin_headers)
    assert r.status_code == 422


# --- uniqueness ----------------------------------------------------------------------------------


def test_unique_custom_field(client, admin_headers, db):
    define(client, admin_headers, name="member_no", type="string", unique=True)
    first = customer(client, admin_headers, "a", member_no="M-1")
    assert first.status_code == 201
    r = customer(client, admin_headers, "b", member_no="M-1")
    assert r.status_code == 409 and r.get_json()["existing_id"] == first.get_json()["id"]
    assert "custom.member_no" in r.get_json()["errors"]
    second = customer(client, admin_headers, "b", member_no="M-2").get_json()["id"]
    r = client.patch(f"{C}/{second}", json={"custom": {"member_no": "M-1"}}, headers=admin_headers)
    assert r.status_code == 409
    # updating a record with its own value is not a conflict
    r = client.patch(f"{C}/{second}", json={"custom": {"member_no": "M-2"}}, headers=admin_headers)
    assert r.status_code == 200
    # the database enforces it too (a unique expression index), beyond the pre-check
    from crm_core.entities.models import Customer

    with pytest.raises(pw.IntegrityError), db.atomic():
        Customer.create(name="raw", custom={"member_no": "M-2"})


def test_making_a_field_unique_lists_duplicates(client, admin_headers):
    define(client, admin_headers, name="code", type="string")
    ids = [customer(client, admin_headers, f"n{i}", code=c).get_json()["id"] for i, c in enumerate("xyx")]
    r = client.patch(f"{F}/code", json={"unique": True}, headers=admin_headers)
    assert r.status_code == 409
    assert r.get_json()["records"] == [ids[2]] and r.get_json()["count"] == 1


# --- filters and sorts ---------------------------------------------------------------------------


@pytest.mark.parametrize("filterable", [False, True])
def test_filter_and_sort_on_custom_fields(client, admin_headers, filterable):
    define(client, admin_headers, name="score", type="int", filterable=filterable)
    define(client, admin_headers, name="balance", type="decimal", filterable=filterable)
    define(client, admin_headers, name="joined", type="datetime", filterable=filterable)
    define(client, admin_headers, name="hobbies", type="multi-choice", choices=["go", "tea", "chess"])
    define(client, admin_headers, name="nick", type="string", filterable=filterable)
    rows = [
        ("a", 700, "10.5", "2026-01-02T00:00:00Z", ["go"], "ace"),
        ("b", 90, "9.75", "2025-12-31T23:00:00-02:00", ["tea", "chess"], "bee"),
        ("c", 300, "100", "2026-01-01T00:00:00Z", ["chess"], "cat"),
    ]
    for name, score, balance, joined, hobbies, nick in rows:
        r = customer(
            client,
            admin_headers,
            name,
            score=score,
            balance=balance,
            joined=joined,
            hobbies=hobbies,
            nick=nick,
        )
        assert r.status_code == 201, r.get_json()
    customer(client, admin_headers, "d")  # no values at all

    def names(query):
        r = client.get(f"{C}?{query}", headers=admin_headers)
        assert r.status_code == 200, r.get_json()
        return [c["name"] for c in r.get_json()]

    assert names("score__gte=300&sort=score") == ["c", "a"]
    assert names("score=90") == ["b"]
    assert names("score__in=90,700&sort=-score") == ["a", "b"]
    found = names("sort=-score&score__ne=700")  # "not equal" includes records without a value
    assert [n for n in found if n != "d"] == ["c", "b"] and "d" in found
    assert names("balance__gt=10&sort=balance") == ["a", "c"]  # numeric, not text, order
    assert names("joined__gte=2026-01-01&sort=joined") == ["c", "b", "a"]  # b: 23:00-02:00 is 01:00Z
    assert names("hobbies=chess&sort=name") == ["b", "c"]
    assert names("hobbies__in=go,tea&sort=name") == ["a", "b"]
    assert names("nick__contains=A&sort=name") == ["a", "c"]
    assert [n for n in names("sort=nick") if n != "d"] == ["a", "b", "c"]
    assert [n for n in names("sort=-nick") if n != "d"] == ["c", "b", "a"]
    for bad in ("lots", "99999999999999999999"):
        r = client.get(f"{C}?score__gte={bad}", headers=admin_headers)
        assert r.status_code == 400 and "score" in str(r.get_json())


def test_filterable_field_uses_an_index(client, admin_headers, db):
    from crm_core.custom import custom_expression
    from crm_core.db import is_postgres
    from crm_core.entities.models import Customer

    define(client, admin_headers, name="score", type="int", filterable=True)
    define(client, admin_headers, name="hobbies", type="multi-choice", choices=["go", "tea"], filterable=True)
    for i in range(30):
        customer(client, admin_headers, f"n{i}", score=i, hobbies=["go"] if i % 2 else ["tea"])
    queries = {
        "cf_customer_score": Customer.select().where(custom_expression(Customer, "score") >= 25),
    }
    if is_postgres():
        queries["cf_customer_hobbies"] = Customer.select().where(
            custom_expression(Customer, "hobbies") == "go"
        )
    for index, query in queries.items():
        sql, params = query.sql()
        with db.atomic():
            if is_postgres():
                db.execute_sql("SET LOCAL enable_seqscan = off")  # tiny table: make the choice visible
                plan = " ".join(r[0] for r in db.execute_sql("EXPLAIN " + sql, params).fetchall())
            else:
                plan = " ".join(
                    str(r) for r in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
                )
        assert index in plan, plan
    assert len(list(queries["cf_customer_score"])) == 5


# --- permissions ---------------------------------------------------------------------------------


def test_field_rules_apply_to_custom_fields(client, admin_headers, make_user):
    define(client, admin_headers, name="salary", type="int")
    define(client, admin_headers, name="note", type="string")
    define(client, admin_headers, name="vip", type="bool")
    role = Role.create(name="cf_role")
    for action in ("read", "create", "update"):
        Grant.create(role=role, resource="customers", action=action, scope="all")
    FieldRule.create(role=role, resource="customers", field="salary", rule="hidden")
    FieldRule.create(role=role, resource="customers", field="vip", rule="read-only")
    _, headers = make_user("cf_user", roles=("cf_role",))
    cid = customer(client, admin_headers, "x", salary=9000, note="hi", vip=True).get_json()["id"]

    body = client.get(f"{C}/{cid}", headers=headers).get_json()
    assert body["custom"] == {"note": "hi", "vip": True}
    listed = client.get(C, headers=headers).get_json()
    assert "salary" not in listed[0]["custom"]
    assert [f["name"] for f in client.get(F, headers=headers).get_json()] == ["note", "vip"]
    assert client.get(f"{F}/salary", headers=headers).status_code == 404

    for value in ({"salary": 1}, {"vip": False}):
        r = client.patch(f"{C}/{cid}", json={"custom": value}, headers=headers)
        assert r.status_code == 403, r.get_json()
    assert client.patch(f"{C}/{cid}", json={"custom": {"note": "ok"}}, headers=headers).status_code == 200
    # definitions are managed with fields:* grants only
    assert client.post(F, json={"name": "x", "type": "int"}, headers=headers).status_code == 403
    assert client.delete(f"{F}/note", headers=headers).status_code == 403


# --- safe definition changes ---------------------------------------------------------------------


def test_required_field_needs_a_default_when_records_exist(client, admin_headers):
    ids = [customer(client, admin_headers, n).get_json()["id"] for n in ("a", "b")]
    r = client.post(F, json={"name": "region", "type": "string", "required": True}, headers=admin_headers)
    assert r.status_code == 409 and sorted(r.get_json()["records"]) == sorted(ids)
    assert "default" in r.get_json()["message"]
    define(client, admin_headers, name="region", type="string", required=True, default="east")
    assert client.get(f"{C}/{ids[0]}", headers=admin_headers).get_json()["custom"] == {"region": "east"}


def test_breaking_changes_are_refused_with_the_records(client, admin_headers):
    define(client, admin_headers, name="score", type="string")
    good = customer(client, admin_headers, "good", score="12").get_json()["id"]
    bad = customer(client, admin_headers, "bad", score="twelve").get_json()["id"]

    r = client.patch(f"{F}/score", json={"type": "int"}, headers=admin_headers)
    assert r.status_code == 409 and r.get_json()["records"] == [bad]
    assert "twelve" in r.get_json()["errors"]["records"][str(bad)]
    assert client.get(f"{F}/score", headers=admin_headers).get_json()["type"] == "string"  # unchanged

    client.patch(f"{C}/{bad}", json={"custom": {"score": "15"}}, headers=admin_headers)
    r = client.patch(f"{F}/score", json={"type": "int", "max": 14}, headers=admin_headers)
    assert r.status_code == 409 and r.get_json()["records"] == [bad]
    r = client.patch(f"{F}/score", json={"type": "int", "max": 20}, headers=admin_headers)
    assert r.status_code == 200
    # values were converted, so numeric filters work at once
    assert client.get(f"{C}/{good}", headers=admin_headers).get_json()["custom"]["score"] == 12
    names = [c["name"] for c in client.get(f"{C}?score__gt=13", headers=admin_headers).get_json()]
    assert names == ["bad"]

    define(client, admin_headers, name="kind", type="choice", choices=["a", "b"])
    customer(client, admin_headers, "k", kind="b")
    r = client.patch(f"{F}/kind", json={"choices": ["a"]}, headers=admin_headers)
    assert r.status_code == 409 and r.get_json()["count"] == 1


def test_delete_keeps_values_until_purge(client, admin_headers):
    define(client, admin_headers, name="shoe", type="int")
    cid = customer(client, admin_headers, "a", shoe=42).get_json()["id"]
    assert client.delete(f"{F}/shoe", headers=admin_headers).status_code == 204
    assert client.get(f"{C}/{cid}", headers=admin_headers).get_json()["custom"] == {"shoe": 42}
    # writing the deleted field is refused, filtering on it too
    assert customer(client, admin_headers, "b", shoe=1).status_code == 422
    assert client.get(f"{C}?shoe=42", headers=admin_headers).status_code == 400
    # re-defining it with an incompatible type is refused: the kept values would break
    r = client.post(F, json={"name": "shoe", "type": "email"}, headers=admin_headers)
    assert r.status_code == 409 and r.get_json()["records"] == [cid]
    define(client, admin_headers, name="shoe", type="int")
    assert [c["id"] for c in client.get(f"{C}?shoe=42", headers=admin_headers).get_json()] == [cid]
    assert client.delete(f"{F}/shoe?purge=true", headers=admin_headers).status_code == 204
    assert client.get(f"{C}/{cid}", headers=admin_headers).get_json()["custom"] == {}


def test_definition_changes_are_audited_and_emitted(client, admin_headers):
    from crm_core.audit.models import AuditEntry
    from crm_core.events.models import OutboxEvent

    define(client, admin_headers, name="score", type="int")
    client.patch(f"{F}/score", json={"max": 5}, headers=admin_headers)
    client.delete(f"{F}/score", headers=admin_headers)
    client.post("/api/v1/objects", json={"name": "course"}, headers=admin_headers)
    events = [e.type for e in OutboxEvent.select().order_by(OutboxEvent.id)]
    events = [e for e in events if e.startswith(("field.", "object_type."))]
    assert events == ["field.created", "field.updated", "field.deleted", "object_type.created"]
    audited = [(a.resource, a.action) for a in AuditEntry.select().where(AuditEntry.resource == "fields")]
    assert audited == [("fields", "create"), ("fields", "update"), ("fields", "delete")]
    update = AuditEntry.select().where(AuditEntry.action == "update").get()
    assert "max" in str(update.after)


def test_purge_a_deleted_field(client, admin_headers):
    define(client, admin_headers, name="old", type="string")
    define(client, admin_headers, name="keep", type="string")
    cid = customer(client, admin_headers, "a", old="x", keep="y").get_json()["id"]
    assert client.delete(f"{F}/old", headers=admin_headers).status_code == 204
    assert client.delete(f"{F}/old", headers=admin_headers).status_code == 404  # already deleted
    assert client.delete(f"{F}/old?purge=true", headers=admin_headers).status_code == 204
    assert client.get(f"{C}/{cid}", headers=admin_headers).get_json()["custom"] == {"keep": "y"}
    assert [f["name"] for f in client.get(f"{F}?deleted=true", headers=admin_headers).get_json()] == ["keep"]
