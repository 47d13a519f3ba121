"""Key rotation end to end, on SQLite and PostgreSQL: ``crm keys rotate`` makes new writes use a
new key, ``crm keys reencrypt`` (and the ``core:reencrypt`` job) moves old values to it by
compare-and-set without losing a concurrent write, ``crm keys status`` counts what each key still
protects, and ``crm keys retire`` deletes a key only when nothing needs it."""

from __future__ import annotations

import base64
import json
import os
import threading

import pytest

from crm_core import crypto
from crm_core.crypto import keyring, rotation
from crm_core.crypto.models import DataKey
from crm_core.entities.models import Customer
from crm_core.testing import run_cli

C = "/api/v1/customers"


@pytest.fixture
def people(client, admin_headers):
    r = client.post(
        "/api/v1/fields/customers",
        json={"name": "id_number", "type": "string", "encrypted": True, "blind_index": True},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    ids = []
    for n in range(5):
        r = client.post(
            C, json={"name": f"p{n}", "custom": {"id_number": f"ID-{n:04d}"}}, headers=admin_headers
        )
        ids.append(r.get_json()["id"])
    return ids


def token_of(customer_id) -> str:
    return Customer.get_by_id(customer_id).custom["id_number"]


def status(app) -> dict:
    result = run_cli(app, "keys", "status", "--json")
    assert result.exit_code == 0, result.output
    return {k["key_id"]: k for k in json.loads(result.output)}


def test_rotate_then_reencrypt_moves_every_value(app, client, admin_headers, people):
    assert status(app)["k1"]["by_store"] == {"customers.id_number": 5}
    result = run_cli(app, "keys", "rotate")
    assert result.exit_code == 0 and "k2" in result.output
    new = client.post(C, json={"name": "new", "custom": {"id_number": "ID-new"}}, headers=admin_headers)
    assert crypto.key_id_of(token_of(new.get_json()["id"])) == "k2"
    report = status(app)
    assert (report["k1"]["state"], report["k1"]["values"], report["k2"]["values"]) == ("decrypt_only", 5, 1)
    # the history keeps its copies (audit images, event payloads), counted apart
    assert report["k1"]["history_copies"]["audit.after"] >= 5

    result = run_cli(app, "keys", "reencrypt", "--batch", "2")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["rewritten"] == 5
    report = status(app)
    assert (report["k1"]["values"], report["k2"]["values"]) == (0, 6)
    for n, cid in enumerate(people):
        token = token_of(cid)
        assert crypto.key_id_of(token) == "k2" and crypto.subject_of(token) == f"customers/{cid}"
        assert (
            client.get(f"{C}/{cid}", headers=admin_headers).get_json()["custom"]["id_number"] == f"ID-{n:04d}"
        )
    assert client.get(f"{C}?id_number=ID-0003", headers=admin_headers).get_json()[0]["id"] == people[3]


def test_a_write_between_read_and_rewrite_is_never_lost(app, client, admin_headers, people, monkeypatch):
    run_cli(app, "keys", "rotate")
    target = people[0]
    real = rotation.reseal

    def with_a_concurrent_write(token, ctx, key_id=None):
        if ctx.endswith(f"/{target}/id_number"):
            r = client.patch(
                f"{C}/{target}", json={"custom": {"id_number": "written-meanwhile"}}, headers=admin_headers
            )
            assert r.status_code == 200
        return real(token, ctx, key_id)

    monkeypatch.setattr(rotation, "reseal", with_a_concurrent_write)
    done = rotation.reencrypt()
    assert (done.rewritten, done.changed_meanwhile) == (4, 1)
    body = client.get(f"{C}/{target}", headers=admin_headers).get_json()
    assert body["custom"]["id_number"] == "written-meanwhile"
    assert crypto.key_id_of(token_of(target)) == "k2"


def test_rotation_under_concurrent_writers_loses_nothing(app, client, admin_headers, people, db_url):
    if not db_url.startswith("postgres"):
        pytest.skip("concurrent writers need a server database")
    run_cli(app, "keys", "rotate")
    last: dict[int, str] = {}
    errors: list = []

    def writer(cid):
        for round_ in range(8):
            value = f"ID-{cid}-{round_}"
            r = client.patch(f"{C}/{cid}", json={"custom": {"id_number": value}}, headers=admin_headers)
            if r.status_code != 200:
                errors.append(r.get_json())
            last[cid] = value

    def rotator():
        with app.app_context():
            for _ in range(4):
                rotation.reencrypt(batch=1)

    threads = [threading.Thread(target=writer, args=(cid,)) for cid in people[:3]]
    threads.append(threading.Thread(target=rotator))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rotation.reencrypt()
    for cid, value in last.items():
        assert client.get(f"{C}/{cid}", headers=admin_headers).get_json()["custom"]["id_number"] == value
    assert status(app)["k1"]["values"] == 0


def test_retire_only_when_nothing_needs_the_key(app, client, admin_headers, people):
    run_cli(app, "keys", "rotate")
    result = run_cli(app, "keys", "retire", "k1")
    assert result.exit_code != 0 and "customers.id_number" in result.output and "reencrypt" in result.output
    assert run_cli(app, "keys", "retire", "k2").exit_code != 0  # the active key
    run_cli(app, "keys", "reencrypt")
    result = run_cli(app, "keys", "retire", "k1")
    assert result.exit_code != 0 and "--force" in result.output  # audit history still holds copies
    result = run_cli(app, "keys", "retire", "k1", "--force")
    assert result.exit_code == 0, result.output
    key = DataKey.get(DataKey.key_id == "k1")
    assert (key.state, key.wrapped) == ("retired", None)
    # the records read on; an audit image sealed under k1 reads as nothing, never an error
    assert (
        client.get(f"{C}/{people[0]}", headers=admin_headers).get_json()["custom"]["id_number"] == "ID-0000"
    )
    entries = client.get(f"/api/v1/audit?resource=customers&record_id={people[0]}", headers=admin_headers)
    assert entries.status_code == 200
    created = next(e for e in entries.get_json() if e["action"] == "create")
    assert created["after"]["custom"]["id_number"] is None


def test_values_of_an_erased_person_are_cleared_not_moved(app, client, admin_headers, people):
    run_cli(app, "keys", "rotate")
    keyring.shred(f"customers/{people[1]}")
    Customer.update(custom=Customer.custom.update({"note": "kept"})).where(Customer.id == people[1]).execute()
    done = rotation.reencrypt()
    assert (done.rewritten, done.cleared) == (4, 1)
    assert token_of(people[1]) is None
    assert Customer.get_by_id(people[1]).custom["note"] == "kept"  # only the token is cleared


def test_sm4_keys_and_the_reencrypt_job(app, client, admin_headers, people):
    if not crypto.ciphers.available("SM4-GCM"):
        pytest.skip("this OpenSSL build has no SM4")
    result = run_cli(app, "keys", "rotate", "--cipher", "SM4-GCM")
    assert result.exit_code == 0 and "SM4-GCM" in result.output
    result = run_cli(app, "jobs", "run", "core:reencrypt")
    assert result.exit_code == 0, result.output
    assert status(app)["k2"]["values"] == 5 and DataKey.get(DataKey.key_id == "k2").cipher == "SM4-GCM"
    assert (
        client.get(f"{C}/{people[2]}", headers=admin_headers).get_json()["custom"]["id_number"] == "ID-0002"
    )


def test_an_unknown_key_wrapper_is_a_clear_error(app):
    app.config["ENCRYPTION_KEY_WRAPPER"] = "vault"
    result = run_cli(app, "keys", "rotate")
    assert result.exit_code != 0 and "no key wrapper 'vault'" in result.output
    assert DataKey.select().count() == 0


def test_master_key_rotation_keeps_every_value_readable(app, client, admin_headers, people):
    old = keyring.master_key()
    new = base64.b64encode(os.urandom(32)).decode()
    # step 1: the new master key is configured, the old one kept as previous: all still opens
    app.config.update(
        ENCRYPTION_MASTER_KEY=new, ENCRYPTION_MASTER_KEY_PREVIOUS=base64.b64encode(old).decode()
    )
    keyring._cache().clear()
    assert (
        client.get(f"{C}/{people[0]}", headers=admin_headers).get_json()["custom"]["id_number"] == "ID-0000"
    )
    # step 2: rewrap moves every key under the new master key (6: one data key, five people)
    result = run_cli(app, "keys", "rewrap")
    assert result.exit_code == 0 and "6 keys rewrapped" in result.output, result.output
    assert "0 keys rewrapped" in run_cli(app, "keys", "rewrap").output
    # step 3: without the old key, everything still opens; with only the old key, nothing does
    app.config["ENCRYPTION_MASTER_KEY_PREVIOUS"] = ""
    keyring._cache().clear()
    assert (
        client.get(f"{C}/{people[4]}", headers=admin_headers).get_json()["custom"]["id_number"] == "ID-0004"
    )
    app.config["ENCRYPTION_MASTER_KEY"] = base64.b64encode(old).decode()
    keyring._cache().clear()
    assert client.get(f"{C}/{people[4]}", headers=admin_headers).get_json()["custom"]["id_number"] is None


def test_rewrap_without_a_previous_key_is_a_clear_error(app):
    result = run_cli(app, "keys", "rewrap")
    assert result.exit_code != 0 and "ENCRYPTION_MASTER_KEY_PREVIOUS" in result.output


def test_the_first_key_made_by_two_writers_at_once_is_one_key(app, client, admin_headers, db_url):
    if not db_url.startswith("postgres"):
        pytest.skip("concurrent first writes need a server database")
    r = client.post(
        "/api/v1/fields/customers",
        json={"name": "id_number", "type": "string", "encrypted": True},
        headers=admin_headers,
    )
    assert r.status_code == 201
    assert DataKey.select().count() == 0
    start = threading.Barrier(4)
    codes: list[int] = []

    def first_write(n):
        start.wait()
        r = client.post(
            C, json={"name": f"racer {n}", "custom": {"id_number": f"R-{n}"}}, headers=admin_headers
        )
        codes.append(r.status_code)

    threads = [threading.Thread(target=first_write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [201] * 4
    assert [k.key_id for k in DataKey.select()] == ["k1"]
    listed = client.get(f"{C}?page_size=10", headers=admin_headers).get_json()
    assert sorted(c["custom"]["id_number"] for c in listed) == [f"R-{n}" for n in range(4)]
