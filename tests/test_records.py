"""The shared list API, write path and CRUD factory (crm_core.records), exercised over HTTP on the
customer collection, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core import hookimpl
from crm_core.records.listing import MAX_PAGE_SIZE
from crm_core.testing import user_with_token

API = "/api/v1"


def make_customers(client, headers, n, **extra):
    ids = []
    for i in range(n):
        body = {"name": f"cust {i:03d}", "email": f"c{i}@example.com", **extra}
        r = client.post(f"{API}/customers", json=body, headers=headers)
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    return ids


def pages(r):
    return json.loads(r.headers["X-Pagination"])


# --- paging ---------------------------------------------------------------------------------------


def test_pagination_edges(client, admin_headers):
    make_customers(client, admin_headers, 7)
    r = client.get(f"{API}/customers?page_size=3&sort=name", headers=admin_headers)
    assert r.status_code == 200
    assert [c["name"] for c in r.get_json()] == ["cust 000", "cust 001", "cust 002"]
    meta = pages(r)
    assert meta["total"] == 7 and meta["total_pages"] == 3 and meta["next_page"] == 2
    assert "previous_page" not in meta

    last = client.get(f"{API}/customers?page=3&page_size=3&sort=name", headers=admin_headers)
    assert [c["name"] for c in last.get_json()] == ["cust 006"]
    assert "next_page" not in pages(last) and pages(last)["previous_page"] == 2

    beyond = client.get(f"{API}/customers?page=9&page_size=3", headers=admin_headers)
    assert beyond.status_code == 200 and beyond.get_json() == []
    assert pages(beyond)["total"] == 7

    everything = client.get(f"{API}/customers?page_size={MAX_PAGE_SIZE}", headers=admin_headers)
    assert len(everything.get_json()) == 7


@pytest.mark.parametrize(
    "query, field",
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page_size=0", "page_size"),
        (f"page_size={MAX_PAGE_SIZE + 1}", "page_size"),
        ("sort=-nope", "sort"),
        ("sort=name,name", "sort"),
        ("nope=1", "nope"),
        ("name__between=1", "name__between"),
        ("created_at__gte=yesterday", "created_at__gte"),
        ("id=notanumber", "id"),
        ("id=99999999999999999999", "id"),
        ("owner_id__in=", "owner_id__in"),
        ("birthday=1990-13-45", "birthday"),
    ],
)
def test_bad_list_parameters_answer_400_naming_the_field(client, admin_headers, query, field):
    r = client.get(f"{API}/customers?{query}", headers=admin_headers)
    assert r.status_code == 400, r.get_json()
    body = r.get_json()
    assert body["code"] == 400 and field in body["errors"]
    assert "SELECT" not in json.dumps(body).upper()


def test_sort_several_fields_and_filters(client, admin_headers):
    for name, stage in [("b", "lead"), ("a", "lead"), ("c", "customer"), ("a", "customer")]:
        r = client.post(
            f"{API}/customers", json={"name": name, "lifecycle_stage": stage}, headers=admin_headers
        )
        assert r.status_code == 201
    r = client.get(f"{API}/customers?sort=lifecycle_stage,-name", headers=admin_headers)
    assert [(c["lifecycle_stage"], c["name"]) for c in r.get_json()] == [
        ("customer", "c"),
        ("customer", "a"),
        ("lead", "b"),
        ("lead", "a"),
    ]
    r = client.get(f"{API}/customers?lifecycle_stage=lead&sort=name", headers=admin_headers)
    assert [c["name"] for c in r.get_json()] == ["a", "b"]
    r = client.get(
        f"{API}/customers?lifecycle_stage__ne=lead&name__in=a,b,c&sort=name", headers=admin_headers
    )
    assert [c["name"] for c in r.get_json()] == ["a", "c"]
    r = client.get(f"{API}/customers?lifecycle_stage=lead&lifecycle_stage=customer", headers=admin_headers)
    assert pages(r)["total"] == 4


def test_range_filters_on_ids_and_times(client, admin_headers):
    ids = make_customers(client, admin_headers, 5)
    r = client.get(f"{API}/customers?id__gte={ids[1]}&id__lt={ids[4]}&sort=id", headers=admin_headers)
    assert [c["id"] for c in r.get_json()] == ids[1:4]
    r = client.get(f"{API}/customers?id__gt={ids[3]}&sort=id", headers=admin_headers)
    assert [c["id"] for c in r.get_json()] == ids[4:]
    r = client.get(f"{API}/customers?id__lte={ids[0]}", headers=admin_headers)
    assert [c["id"] for c in r.get_json()] == ids[:1]
    first = client.get(f"{API}/customers/{ids[0]}", headers=admin_headers).get_json()
    r = client.get(f"{API}/customers?created_at__gte={first['created_at']}", headers=admin_headers)
    assert pages(r)["total"] == 5
    r = client.get(f"{API}/customers?created_at__lt=2000-01-01T00:00:00Z", headers=admin_headers)
    assert pages(r)["total"] == 0


def test_q_searches_text_fields_and_treats_wildcards_literally(client, admin_headers):
    client.post(
        f"{API}/customers", json={"name": "Alice Smith", "email": "alice@ex.com"}, headers=admin_headers
    )
    client.post(f"{API}/customers", json={"name": "Bob 100%", "phone": "13900139000"}, headers=admin_headers)
    client.post(f"{API}/customers", json={"name": "Carol_x"}, headers=admin_headers)

    def names(q):
        return sorted(
            c["name"]
            for c in client.get(f"{API}/customers", query_string={"q": q}, headers=admin_headers).get_json()
        )

    assert names("alice") == ["Alice Smith"]
    assert names("ALICE@EX") == ["Alice Smith"]
    assert names("1390013") == ["Bob 100%"]
    assert names("%") == ["Bob 100%"]
    assert names("_") == ["Carol_x"]
    assert names("nobody") == []


def test_contains_filter(client, admin_headers):
    client.post(
        f"{API}/customers", json={"name": "Zhang San", "source_channel": "douyin-live"}, headers=admin_headers
    )
    client.post(f"{API}/customers", json={"name": "Li Si", "source_channel": "wechat"}, headers=admin_headers)
    r = client.get(f"{API}/customers?source_channel__contains=DOUYIN", headers=admin_headers)
    assert [c["name"] for c in r.get_json()] == ["Zhang San"]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page_size=st.integers(min_value=1, max_value=8))
def test_pages_partition_the_collection(client, admin_headers, page_size):
    """Whatever the page size, walking the pages yields every record once, in order."""
    if not client.get(f"{API}/customers", headers=admin_headers).get_json():
        make_customers(client, admin_headers, 9)
    seen, page = [], 1
    while True:
        r = client.get(f"{API}/customers?page={page}&page_size={page_size}&sort=-name", headers=admin_headers)
        batch = r.get_json()
        seen.extend(c["name"] for c in batch)
        if "next_page" not in pages(r):
            break
        page += 1
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == pages(r)["total"]


# --- idempotency ----------------------------------------------------------------------------------


def test_idempotency_key_replays_the_first_response(client, admin_headers):
    h = {**admin_headers, "Idempotency-Key": "k-1"}
    body = {"name": "once", "email": "once@example.com"}
    r1 = client.post(f"{API}/customers", json=body, headers=h)
    r2 = client.post(f"{API}/customers", json=body, headers=h)
    assert r1.status_code == r2.status_code == 201
    assert r1.get_json() == r2.get_json()
    assert r2.headers["Idempotent-Replayed"] == "true"
    assert r1.headers["Location"] == r2.headers["Location"]
    assert pages(client.get(f"{API}/customers", headers=admin_headers))["total"] == 1

    other = client.post(f"{API}/customers", json={"name": "other"}, headers=h)
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["errors"]


def test_idempotency_keys_are_scoped_per_user(client, admin_headers, make_user):
    _, other_headers = make_user("second_admin")
    r1 = client.post(
        f"{API}/customers", json={"name": "a"}, headers={**admin_headers, "Idempotency-Key": "same"}
    )
    r2 = client.post(
        f"{API}/customers", json={"name": "a"}, headers={**other_headers, "Idempotency-Key": "same"}
    )
    assert r1.status_code == r2.status_code == 201
    assert r1.get_json()["id"] != r2.get_json()["id"]


def test_failed_request_does_not_burn_the_key(client, admin_headers):
    h = {**admin_headers, "Idempotency-Key": "retry-me"}
    client.post(f"{API}/customers", json={"name": "x", "email": "taken@example.com"}, headers=admin_headers)
    r = client.post(f"{API}/customers", json={"name": "y", "email": "taken@example.com"}, headers=h)
    assert r.status_code == 409
    r = client.post(f"{API}/customers", json={"name": "y", "email": "free@example.com"}, headers=h)
    assert r.status_code == 201


def test_idempotency_key_too_long(client, admin_headers):
    r = client.post(
        f"{API}/customers", json={"name": "x"}, headers={**admin_headers, "Idempotency-Key": "k" * 201}
    )
    assert r.status_code == 400


# --- ETag / If-Match ------------------------------------------------------------------------------


def test_etag_if_match_and_if_none_match(client, admin_headers):
    cid = make_customers(client, admin_headers, 1)[0]
    r = client.get(f"{API}/customers/{cid}", headers=admin_headers)
    etag = r.headers["ETag"]
    assert etag.startswith('"')
    assert (
        client.get(f"{API}/customers/{cid}", headers={**admin_headers, "If-None-Match": etag}).status_code
        == 304
    )

    ok = client.patch(
        f"{API}/customers/{cid}", json={"name": "new"}, headers={**admin_headers, "If-Match": etag}
    )
    assert ok.status_code == 200 and ok.get_json()["name"] == "new"
    assert ok.headers["ETag"] != etag

    stale = client.patch(
        f"{API}/customers/{cid}", json={"name": "lost"}, headers={**admin_headers, "If-Match": etag}
    )
    assert stale.status_code == 412 and stale.get_json()["code"] == 412
    assert client.get(f"{API}/customers/{cid}", headers=admin_headers).get_json()["name"] == "new"

    assert (
        client.delete(f"{API}/customers/{cid}", headers={**admin_headers, "If-Match": etag}).status_code
        == 412
    )
    assert (
        client.delete(
            f"{API}/customers/{cid}", headers={**admin_headers, "If-Match": ok.headers["ETag"]}
        ).status_code
        == 204
    )


def test_patch_without_if_match_and_wildcard(client, admin_headers):
    cid = make_customers(client, admin_headers, 1)[0]
    assert (
        client.patch(f"{API}/customers/{cid}", json={"gender": "female"}, headers=admin_headers).status_code
        == 200
    )
    r = client.patch(
        f"{API}/customers/{cid}", json={"gender": "male"}, headers={**admin_headers, "If-Match": "*"}
    )
    assert r.status_code == 200 and r.get_json()["gender"] == "male"


# --- write path -----------------------------------------------------------------------------------


def test_every_write_reaches_crm_record_written(app, client, admin_headers):
    from crm_core import hookimpl

    seen = []

    class Spy:
        @hookimpl
        def crm_record_written(self, change):
            seen.append(change)

    pm = app.extensions["crm"].plugins.pm
    pm.register(Spy(), name="spy_records")
    try:
        cid = client.post(
            f"{API}/customers",
            json={"name": "w", "tags": ["vip"]},
            headers={**admin_headers, "X-Request-ID": "req-42"},
        ).get_json()["id"]
        client.patch(f"{API}/customers/{cid}", json={"name": "w2"}, headers=admin_headers)
        client.delete(f"{API}/customers/{cid}", headers=admin_headers)
        assert [c.action for c in seen] == ["create", "update", "delete"]
        create, update, delete = seen
        assert create.before is None and create.after["name"] == "w" and create.after["tags"] == ["vip"]
        assert create.request_id == "req-42" and create.ip == "127.0.0.1" and create.resource == "customers"
        assert (
            update.before["name"] == "w"
            and update.after["name"] == "w2"
            and update.changed == ["name", "updated_at"]
        )
    finally:
        pm.unregister(name="spy_records")
    assert delete.after is None and delete.record_id == cid


def test_raising_observer_rolls_the_write_back(app, client, admin_headers):
    from crm_core import hookimpl

    class Veto:
        @hookimpl
        def crm_record_written(self, change):
            raise RuntimeError("observer failed")

    pm = app.extensions["crm"].plugins.pm
    pm.register(Veto(), name="veto_records")
    try:
        r = client.post(f"{API}/customers", json={"name": "ghost"}, headers=admin_headers)
    finally:
        pm.unregister(name="veto_records")
    assert r.status_code == 500
    assert pages(client.get(f"{API}/customers", headers=admin_headers))["total"] == 0


# --- permissions through the factory --------------------------------------------------------------


def test_row_scope_404_and_403_and_masking(app, client, admin_headers, make_user):
    from crm_core.auth.models import Department

    dept = Department.create(name="East")
    dept.path = f"/{dept.id}/"
    dept.save()
    other = Department.create(name="West")
    other.path = f"/{other.id}/"
    other.save()
    seller, seller_h = make_user("seller", roles=("sales",), department_id=dept.id)
    _, colleague_h = make_user("colleague", roles=("sales",), department_id=dept.id)
    _, stranger_h = make_user("stranger", roles=("sales",), department_id=other.id)

    mine = client.post(f"{API}/customers", json={"name": "mine"}, headers=seller_h)
    assert mine.status_code == 201, mine.get_json()
    cid = mine.get_json()["id"]
    assert mine.get_json()["owner_id"] == seller.id and mine.get_json()["department_id"] == dept.id

    # colleague (same department) reads it but may not change it; a stranger does not see it at all
    assert client.get(f"{API}/customers/{cid}", headers=colleague_h).status_code == 200
    assert client.patch(f"{API}/customers/{cid}", json={"name": "x"}, headers=colleague_h).status_code == 403
    assert client.delete(f"{API}/customers/{cid}", headers=colleague_h).status_code == 403
    assert client.get(f"{API}/customers/{cid}", headers=stranger_h).status_code == 404
    assert client.patch(f"{API}/customers/{cid}", json={"name": "x"}, headers=stranger_h).status_code == 404
    assert client.get(f"{API}/customers", headers=stranger_h).get_json() == []
    assert [c["id"] for c in client.get(f"{API}/customers", headers=colleague_h).get_json()] == [cid]

    # mass assignment: a sales rep (create scope "own") cannot create records owned by someone else
    r = client.post(
        f"{API}/customers", json={"name": "given away", "owner_id": seller.id + 1000}, headers=seller_h
    )
    assert r.status_code == 403 and "owner_id" in r.get_json()["errors"]
    r = client.patch(f"{API}/customers/{cid}", json={"owner_id": seller.id + 1000}, headers=seller_h)
    assert r.status_code == 403

    # readonly role: may read, not create
    _, ro_h = make_user("ro", roles=("readonly",))
    assert client.post(f"{API}/customers", json={"name": "no"}, headers=ro_h).status_code == 403
    assert client.get(f"{API}/customers", headers=ro_h).status_code == 200


def test_hidden_fields_are_masked_and_read_only_fields_refused(app, client, admin_headers, make_user):
    from crm_core.auth.models import Role
    from crm_core.permissions.models import FieldRule

    role = Role.get(Role.name == "readonly")
    FieldRule.create(role=role, resource="customers", field="email", rule="hidden")
    service = Role.get(Role.name == "service")
    FieldRule.create(role=service, resource="customers", field="phone", rule="read-only")
    _, ro_h = make_user("ro2", roles=("readonly",))
    from crm_core.auth.models import Department

    dept = Department.create(name="Service")
    _, svc_h = make_user("svc", roles=("service",), department_id=dept.id)
    body = {"name": "m", "email": "m@example.com", "phone": "13800138000", "department_id": dept.id}
    cid = client.post(f"{API}/customers", json=body, headers=admin_headers).get_json()["id"]

    listed = client.get(f"{API}/customers", headers=ro_h).get_json()
    assert listed and all("email" not in c for c in listed) and listed[0]["phone"] == "+8613800138000"
    detail = client.get(f"{API}/customers/{cid}", headers=ro_h)
    assert "email" not in detail.get_json()
    assert (
        detail.headers["ETag"] != client.get(f"{API}/customers/{cid}", headers=admin_headers).headers["ETag"]
    )

    r = client.patch(f"{API}/customers/{cid}", json={"phone": "13900139000"}, headers=svc_h)
    assert r.status_code == 403 and "phone" in r.get_json()["errors"]
    assert client.patch(f"{API}/customers/{cid}", json={"name": "ok"}, headers=svc_h).status_code == 200


def test_hidden_fields_cannot_be_filtered_sorted_or_searched(client, admin_headers, make_user):
    from crm_core.auth.models import Role
    from crm_core.permissions.models import FieldRule

    FieldRule.create(
        role=Role.get(Role.name == "readonly"), resource="customers", field="phone", rule="hidden"
    )
    _, ro = make_user("phoneless", roles=("readonly",))
    client.post(f"{API}/customers", json={"name": "p1", "phone": "13800138000"}, headers=admin_headers)
    client.post(f"{API}/customers", json={"name": "p2", "phone": "13900139000"}, headers=admin_headers)
    for query in ("phone=%2B8613800138000", "phone__contains=138", "sort=phone"):
        r = client.get(f"{API}/customers?{query}", headers=ro)
        assert r.status_code == 400 and r.get_json()["errors"], query
    assert client.get(f"{API}/customers?q=1380013", headers=ro).get_json() == []
    assert len(client.get(f"{API}/customers?q=1380013", headers=admin_headers).get_json()) == 1


@pytest.mark.parametrize(
    "query", [{"name": "a\x00b"}, {"q": "a\x00"}, {"sort": "na\x00me"}, {"na\x00me": "x"}]
)
def test_nul_characters_in_list_parameters_are_400(client, admin_headers, query):
    r = client.get(f"{API}/customers", query_string=query, headers=admin_headers)
    assert r.status_code == 400 and r.get_json()["code"] == 400


def test_nul_characters_in_bodies_are_422(client, admin_headers):
    r = client.post(f"{API}/customers", json={"name": "a\x00b"}, headers=admin_headers)
    assert r.status_code == 422 and "name" in r.get_json()["errors"]
    r = client.post(f"{API}/customers", json={"name": "ok", "tags": ["v\x00ip"]}, headers=admin_headers)
    assert r.status_code == 422


def test_bulk_insert_rows_fills_defaults_and_returns_ids_in_order(app, client, admin_headers):
    from crm_core.bulk import insert_rows
    from crm_core.db import database
    from crm_core.entities.models import Customer

    with database.atomic():
        ids = insert_rows(
            Customer, ["name", "email"], [("b1", "b1@example.com"), ("b2", None), ("b3", "b3@example.com")]
        )
        skipped = insert_rows(
            Customer, ["name", "email"], [("dup", "b1@example.com"), ("b4", None)], ignore_conflicts=True
        )
    assert len(ids) == 3 and ids == sorted(ids) and len(skipped) == 1
    rows = {c["name"]: c for c in client.get(f"{API}/customers?sort=id", headers=admin_headers).get_json()}
    assert [rows[n]["id"] for n in ("b1", "b2", "b3")] == ids and rows["b4"]["id"] == skipped[0]
    assert rows["b1"]["lifecycle_stage"] == "lead" and rows["b1"]["custom"] == {} and rows["b1"]["created_at"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_key_stored_meanwhile_by_another_request_answers_409_and_creates_nothing(register_plugin):
    """Two requests with one key: the other one stores it while this one is writing. This one's
    transaction then fails (on PostgreSQL its key goes in with the COMMIT) and creates nothing."""

    class OtherRequest:
        def __init__(self):
            self.user_id = None

        @hookimpl
        def crm_record_written(self, change):
            if change.resource != "customers" or self.user_id is None:
                return
            db = application.extensions["crm"].db
            other = psycopg2.connect(dbname=db.database, **db.connect_params)
            other.autocommit = True
            with other.cursor() as cur:
                cur.execute(
                    "INSERT INTO idempotency_key (user_id, key, fingerprint, status, body, created_at,"
                    " updated_at) VALUES (%s, 'raced', 'x', 201, '{}', now(), now())",
                    (self.user_id,),
                )
            other.close()

    plugin = OtherRequest()
    application = register_plugin(plugin, "other_request")
    with application.app_context():
        user, headers = user_with_token("racer")
    plugin.user_id = user.id
    client = application.test_client()
    r = client.post(
        f"{API}/customers", json={"name": "Raced"}, headers={**headers, "Idempotency-Key": "raced"}
    )
    assert r.status_code == 409, r.get_json()
    plugin.user_id = None
    listed = client.get(f"{API}/customers?q=Raced", headers=headers).get_json()
    assert listed == []
