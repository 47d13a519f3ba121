"""Encrypted custom fields through the API, on SQLite and PostgreSQL: values stored only as
envelope tokens bound to their row, field and person; opened only for readers who may see the
field; found by exact value through a blind index and by nothing else; definitions that turn
encryption on and off rewrite the stored values; erasure by shredding the person's key."""

from __future__ import annotations

import json

import pytest

from crm_core import crypto
from crm_core.audit.models import AuditEntry
from crm_core.auth.models import Role
from crm_core.browser_testing import post_form, web_login
from crm_core.crypto import keyring
from crm_core.crypto.models import BlindIndex
from crm_core.entities.models import Customer, Ticket
from crm_core.events.models import OutboxEvent
from crm_core.permissions.models import FieldRule, Grant

F = "/api/v1/fields/customers"
C = "/api/v1/customers"
ID_1 = "110105199003071234"
ID_2 = "310104198812120021"


def define(client, headers, entity="customers", **spec):
    r = client.post(f"/api/v1/fields/{entity}", json=spec, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def create(client, headers, name, **custom):
    r = client.post(C, json={"name": name, "custom": custom}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def stored(customer_id) -> dict:
    return Customer.select(Customer.custom).where(Customer.id == customer_id).scalar() or {}


@pytest.fixture
def secret_fields(client, admin_headers):
    define(client, admin_headers, name="id_number", type="string", encrypted=True, blind_index=True)
    define(client, admin_headers, name="diagnosis", type="text", encrypted=True)
    define(client, admin_headers, name="visits", type="int", encrypted=True)
    define(client, admin_headers, name="region", type="string")


def test_values_are_stored_only_as_tokens_bound_to_row_field_and_person(client, admin_headers, secret_fields):
    body = create(client, admin_headers, "Li", id_number=ID_1, diagnosis="阑尾炎", visits=3, region="east")
    cid = body["id"]
    assert body["custom"] == {"id_number": ID_1, "diagnosis": "阑尾炎", "visits": 3, "region": "east"}
    assert client.get(f"{C}/{cid}", headers=admin_headers).get_json()["custom"]["visits"] == 3

    raw = stored(cid)
    assert raw["region"] == "east"
    for name in ("id_number", "diagnosis", "visits"):
        assert crypto.is_token(raw[name]) and crypto.subject_of(raw[name]) == f"customers/{cid}"
    # nowhere in the row, the audit log or the outbox does the plaintext appear
    texts = [json.dumps(raw, ensure_ascii=False)]
    texts += [json.dumps([e.before, e.after], ensure_ascii=False) for e in AuditEntry.select()]
    texts += [json.dumps(e.data, ensure_ascii=False) for e in OutboxEvent.select()]
    for text in texts:
        assert ID_1 not in text and "阑尾炎" not in text

    # a token copied to another row does not open there: the other record reads nothing
    other = create(client, admin_headers, "Wang")["id"]
    Customer.update(custom={"id_number": raw["id_number"]}).where(Customer.id == other).execute()
    assert client.get(f"{C}/{other}", headers=admin_headers).get_json()["custom"]["id_number"] is None


def test_only_readers_who_may_see_the_field_get_it(client, admin_headers, make_user, secret_fields):
    cid = create(client, admin_headers, "Li", id_number=ID_1, diagnosis="flu")["id"]
    role = Role.create(name="front_desk")
    Grant.create(role=role, resource="customers", action="read", scope="all")
    FieldRule.create(role=role, resource="customers", field="diagnosis", rule="hidden")
    _, desk = make_user("desk", roles=("front_desk",))

    seen = client.get(f"{C}/{cid}", headers=desk).get_json()["custom"]
    assert seen == {"id_number": ID_1}
    listed = client.get(C, headers=desk).get_json()[0]["custom"]
    assert listed == {"id_number": ID_1}
    # the audit log shows the reader the old and new values it may see, opened
    entries = client.get(
        f"/api/v1/audit?resource=customers&record_id={cid}", headers=admin_headers
    ).get_json()
    created = next(e for e in entries if e["action"] == "create")
    assert created["after"]["custom"]["diagnosis"] == "flu"
    # the domain event as the events API shows it is opened too
    events = client.get("/api/v1/events?type=customer.created", headers=admin_headers).get_json()
    assert events[0]["data"]["object"]["custom"]["id_number"] == ID_1


def test_exact_lookup_through_the_blind_index_and_nothing_else(client, admin_headers, secret_fields):
    a = create(client, admin_headers, "a", id_number=ID_1, diagnosis="x")["id"]
    b = create(client, admin_headers, "b", id_number=ID_2)["id"]
    create(client, admin_headers, "c")

    def names(query):
        r = client.get(f"{C}?{query}", headers=admin_headers)
        assert r.status_code == 200, r.get_json()
        return sorted(c["name"] for c in r.get_json())

    assert names(f"id_number={ID_1}") == ["a"]
    assert names(f"id_number__in={ID_1},{ID_2}") == ["a", "b"]
    assert names("id_number=000000000000000000") == []

    # a digest collision (another record indexed under a's digest) is decrypted and dropped
    digest = BlindIndex.get(BlindIndex.record_id == a).digest
    BlindIndex.update(digest=digest).where(BlindIndex.record_id == b).execute()
    assert names(f"id_number={ID_1}") == ["a"]

    for query, key in [
        ("id_number__contains=110105", "id_number__contains"),
        ("id_number__gte=110105", "id_number__gte"),
        ("diagnosis=appendicitis", "diagnosis"),
        ("sort=id_number", "sort"),
    ]:
        r = client.get(f"{C}?{query}", headers=admin_headers)
        assert r.status_code == 400, (query, r.get_json())
        errors = json.dumps(r.get_json())
        assert key in r.get_json()["errors"] and "110105" not in errors and "appendicitis" not in errors


def test_index_follows_updates_clears_and_deletes(client, admin_headers, secret_fields):
    cid = create(client, admin_headers, "a", id_number=ID_1)["id"]
    token = stored(cid)["id_number"]
    # writing the same value again is not a change: the token (and the audit log) stay quiet
    r = client.patch(f"{C}/{cid}", json={"custom": {"id_number": ID_1}}, headers=admin_headers)
    assert r.status_code == 200 and stored(cid)["id_number"] == token
    client.patch(f"{C}/{cid}", json={"custom": {"id_number": ID_2}}, headers=admin_headers)
    assert client.get(f"{C}?id_number={ID_2}", headers=admin_headers).get_json()[0]["id"] == cid
    assert client.get(f"{C}?id_number={ID_1}", headers=admin_headers).get_json() == []
    client.patch(f"{C}/{cid}", json={"custom": {"id_number": None}}, headers=admin_headers)
    assert BlindIndex.select().where(BlindIndex.record_id == cid).count() == 0
    client.patch(f"{C}/{cid}", json={"custom": {"id_number": ID_1}}, headers=admin_headers)
    assert client.delete(f"{C}/{cid}", headers=admin_headers).status_code == 204
    assert BlindIndex.select().count() == 0


@pytest.mark.parametrize(
    "spec, key",
    [
        ({"type": "string", "encrypted": True, "unique": True}, "unique"),
        ({"type": "string", "encrypted": True, "filterable": True}, "filterable"),
        ({"type": "string", "blind_index": True}, "blind_index"),
        ({"type": "text", "encrypted": True, "blind_index": True}, "blind_index"),
        ({"type": "reference", "reference": "companies", "encrypted": True}, "encrypted"),
        ({"type": "string", "encrypted": "maybe"}, "encrypted"),
    ],
)
def test_definitions_that_cannot_hold_are_refused(client, admin_headers, spec, key):
    r = client.post(F, json={"name": "secret", **spec}, headers=admin_headers)
    assert r.status_code == 422 and key in r.get_json()["errors"], r.get_json()


def test_turning_encryption_on_and_off_rewrites_the_stored_values(client, admin_headers):
    define(client, admin_headers, name="passport", type="string")
    cid = create(client, admin_headers, "a", passport="E12345678")["id"]
    r = client.patch(f"{F}/passport", json={"encrypted": True, "blind_index": True}, headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["encrypted"] is True
    assert crypto.is_token(stored(cid)["passport"])
    assert client.get(f"{C}?passport=E12345678", headers=admin_headers).get_json()[0]["id"] == cid
    assert client.get(f"{C}/{cid}", headers=admin_headers).get_json()["custom"]["passport"] == "E12345678"

    # a change that stored values break names the records, never the values
    r = client.patch(f"{F}/passport", json={"max_length": 3}, headers=admin_headers)
    assert r.status_code == 409 and "E12345678" not in json.dumps(r.get_json())

    client.patch(f"{F}/passport", json={"encrypted": False, "blind_index": False}, headers=admin_headers)
    assert stored(cid)["passport"] == "E12345678" and BlindIndex.select().count() == 0


def test_a_required_encrypted_default_is_sealed_for_each_old_record(client, admin_headers):
    ids = [create(client, admin_headers, n)["id"] for n in ("a", "b")]
    define(client, admin_headers, name="tier", type="string", required=True, default="basic", encrypted=True)
    tokens = [stored(i)["tier"] for i in ids]
    assert all(crypto.is_token(t) for t in tokens) and tokens[0] != tokens[1]
    assert client.get(f"{C}/{ids[1]}", headers=admin_headers).get_json()["custom"]["tier"] == "basic"


def test_shredding_the_person_key_erases_their_values_everywhere(client, admin_headers, app, secret_fields):
    cid = create(client, admin_headers, "a", id_number=ID_1, diagnosis="flu")["id"]
    keep = create(client, admin_headers, "b", id_number=ID_2)["id"]
    with app.app_context():
        assert keyring.shred(f"customers/{cid}")
    body = client.get(f"{C}/{cid}", headers=admin_headers)
    assert body.status_code == 200 and body.get_json()["custom"]["id_number"] is None
    entries = client.get(
        f"/api/v1/audit?resource=customers&record_id={cid}", headers=admin_headers
    ).get_json()
    assert all((e.get("after") or {}).get("custom", {}).get("diagnosis") is None for e in entries)
    assert client.get(f"{C}/{keep}", headers=admin_headers).get_json()["custom"]["id_number"] == ID_2


def test_records_of_a_customer_are_bound_to_that_customer(client, admin_headers):
    define(client, admin_headers, entity="tickets", name="contract_no", type="string", encrypted=True)
    cid = create(client, admin_headers, "a")["id"]
    r = client.post(
        "/api/v1/tickets",
        json={"title": "Late", "customer_id": cid, "custom": {"contract_no": "HT-1"}},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    token = Ticket.get_by_id(r.get_json()["id"]).custom["contract_no"]
    assert crypto.subject_of(token) == f"customers/{cid}"
    assert r.get_json()["custom"]["contract_no"] == "HT-1"


def test_automation_conditions_refuse_an_encrypted_field(client, admin_headers, secret_fields):
    rule = {
        "name": "by id",
        "trigger": "customer.created",
        "conditions": {"field": "customer.custom.id_number", "op": "eq", "value": ID_1},
        "actions": [],
    }
    r = client.post("/api/v1/automations", json=rule, headers=admin_headers)
    assert r.status_code == 422, r.get_json()
    assert "encrypted" in json.dumps(r.get_json()) and ID_1 not in json.dumps(r.get_json())


def test_the_workbench_defines_finds_and_shows_an_encrypted_field(app, admin_headers, make_user):
    make_user("boss", roles=("admin",))
    web, api = app.test_client(), app.test_client()
    assert web_login(web, "boss").status_code == 302
    r = post_form(
        web,
        "/admin/fields?entity=customers",
        {
            "name": "id_number",
            "type": "string",
            "label_en": "ID number",
            "encrypted": "on",
            "blind_index": "on",
        },
    )
    assert r.status_code in (200, 302), r.get_data(as_text=True)
    got = api.get("/api/v1/fields/customers/id_number", headers=admin_headers).get_json()
    assert (got["encrypted"], got["blind_index"]) == (True, True)
    cid = create(api, admin_headers, "Li", id_number=ID_1)["id"]
    create(api, admin_headers, "Wang", id_number=ID_2)
    page = web.get(f"/records/customers/?id_number={ID_1}").get_data(as_text=True)
    assert "Li" in page and "Wang" not in page and 'name="id_number"' in page
    assert ID_1 in web.get(f"/records/customers/{cid}").get_data(as_text=True)
    # an encrypted column is not offered as a sort
    listing = web.get("/records/customers/").get_data(as_text=True)
    assert "<th>ID number</th>" in listing and 'data-sort="id_number"' not in listing
