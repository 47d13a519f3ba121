"""Tamper evidence that holds, and audited reads (issue 13).

- Secret reveals, exports (with their filter and row count), privacy exports and logins (success
  and failure, API and web) are audit entries, shown in the audit views with hidden fields masked.
- The chain is keyed (HMAC under a key outside the database): a log rewritten and re-chained with
  plain SHA-256, or with a key that is not the instance's, fails ``crm audit verify``.
- Entries are sealed as they are written (no scheduler), so deleting the newest entry, or deleting
  it and rolling the chain head back, is detected; so is a head row that lost its MAC.
- Chains sealed before the key (plain SHA-256) still verify once adopted by the migration's
  ``rekey`` anchor, and stay protected.
"""

from __future__ import annotations

import json
import threading

import pytest
from audit_tampering import load_migration, tampering
from click.testing import CliRunner

from crm_core.audit import record_event, seal, verify
from crm_core.audit.chain import adopt_legacy, audit_key, head_mac, legacy_hash
from crm_core.audit.models import AuditEntry, AuditHead
from crm_core.auth.models import Role
from crm_core.browser_testing import web_login
from crm_core.config import ConfigError, load_config
from crm_core.permissions.models import FieldRule, Grant
from crm_core.testing import TEST_PASSWORD


def cli_verify(app):
    """``crm audit verify`` as an operator runs it: its own app, the instance's settings."""
    from crm_core.cli import build_cli

    env = {
        "CRM_DATABASE_URL": app.config["DATABASE_URL"],
        "CRM_INSTANCE_PATH": app.config["INSTANCE_PATH"],
        "CRM_SECRET_KEY": app.config["SECRET_KEY"],
    }
    return CliRunner().invoke(build_cli(), ["audit", "verify"], env=env)


def events(action=None, kind=None):
    query = AuditEntry.select().where(AuditEntry.kind != "write").order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    if kind:
        query = query.where(AuditEntry.kind == kind)
    return list(query)


# --- audited reads ------------------------------------------------------------------------------


def test_secret_reveal_is_audited_without_the_secret(app, client, make_user):
    app.config["WEBHOOK_ALLOW_PRIVATE_URLS"] = True
    user, headers = make_user("hooker", roles=("admin",))
    sub = client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]}, headers=headers
    ).get_json()
    secret = client.get(f"/api/v1/webhooks/{sub['id']}/secret", headers=headers).get_json()["secret"]
    (entry,) = events("reveal_secret")
    assert (entry.kind, entry.resource, entry.record_id, entry.actor_id) == (
        "read",
        "webhooks",
        str(sub["id"]),
        user.id,
    )
    assert entry.seq is not None and entry.ip == "127.0.0.1"
    assert secret not in json.dumps([e.__data__ for e in AuditEntry.select()], default=str)
    listed = client.get("/api/v1/audit?kind=read", headers=headers).get_json()
    assert [(e["action"], e["record_id"]) for e in listed] == [("reveal_secret", str(sub["id"]))]


def test_api_export_is_audited_with_its_filter_and_row_count(client, admin_headers):
    for name, channel in (("a", "kol"), ("b", "kol"), ("c", "ads")):
        client.post(
            "/api/v1/customers", json={"name": name, "source_channel": channel}, headers=admin_headers
        )
    r = client.get("/api/v1/customers/export?format=csv&source_channel=kol", headers=admin_headers)
    assert r.status_code == 200
    (entry,) = events("export")
    assert entry.kind == "read" and entry.resource == "customers" and entry.seq is not None
    info = json.loads(entry.after)
    assert info["rows"] == 2 and info["format"] == "csv"
    assert info["filter"] == {"format": "csv", "source_channel": "kol"}


def test_web_exports_are_audited(client, make_user, admin_headers):
    client.post("/api/v1/customers", json={"name": "w"}, headers=admin_headers)
    assert client.post("/api/v1/companies", json={"name": "acme"}, headers=admin_headers).status_code == 201
    make_user("webadmin", roles=("admin",))
    assert web_login(client, "webadmin").status_code == 302
    for resource in ("customers", "companies"):
        r = client.get(f"/records/{resource}/export.csv?q=")
        assert r.status_code == 200, resource
    customers, companies = events("export")
    assert (customers.resource, companies.resource) == ("customers", "companies")
    assert [json.loads(e.after)["rows"] for e in (customers, companies)] == [1, 1]


def test_export_filter_on_a_hidden_field_is_masked_in_the_audit_views(client, admin_headers, make_user):
    client.post("/api/v1/customers", json={"name": "p", "phone": "+8613800138000"}, headers=admin_headers)
    r = client.get(
        "/api/v1/customers/export?format=csv&phone=%2B8613800138000&sort=-phone,name", headers=admin_headers
    )
    assert r.status_code == 200
    role = Role.create(name="auditor_np2")
    Grant.create(role=role, resource="audit", action="read", scope="all")
    Grant.create(role=role, resource="customers", action="read", scope="all")
    FieldRule.create(role=role, resource="customers", field="phone", rule="hidden")
    _u, auditor = make_user("auditor_np2", roles=("auditor_np2",))
    (seen,) = client.get("/api/v1/audit?action=export", headers=auditor).get_json()
    assert seen["after"]["filter"] == {"format": "csv", "sort": "name"} and seen["after"]["rows"] == 1
    (full,) = client.get("/api/v1/audit?action=export", headers=admin_headers).get_json()
    assert full["after"]["filter"]["phone"] == "+8613800138000"
    # the workbench's audit page shows the entry with the same masking
    assert web_login(client, "auditor_np2").status_code == 302
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "export" in page and "8613800138000" not in page


def test_privacy_export_is_audited(client, admin_headers):
    cid = client.post("/api/v1/customers", json={"name": "subject"}, headers=admin_headers).get_json()["id"]
    assert client.get(f"/api/v1/customers/{cid}/privacy-export", headers=admin_headers).status_code == 200
    (entry,) = events("read")
    assert entry.kind == "read" and entry.resource == "customers" and entry.record_id == str(cid)
    assert json.loads(entry.after) == {"export": "crm-core.privacy-export/1"}


def test_api_logins_are_audited_success_and_failure(client, make_user):
    user, _ = make_user("loginer", roles=("sales",))
    ok = client.post("/api/v1/auth/token", json={"username": "loginer", "password": TEST_PASSWORD})
    bad = client.post("/api/v1/auth/token", json={"username": "loginer", "password": "wrong-Passw0rd"})
    nobody = client.post("/api/v1/auth/token", json={"username": "ghost", "password": "wrong-Passw0rd"})
    assert (ok.status_code, bad.status_code, nobody.status_code) == (200, 401, 401)
    login, failed, unknown = events(kind="auth")
    assert (login.action, login.record_id, login.actor_id, login.actor_name) == (
        "login",
        str(user.id),
        user.id,
        "loginer",
    )
    assert (failed.action, failed.record_id, failed.actor_id) == ("login_failed", str(user.id), None)
    assert json.loads(failed.after)["username"] == "loginer"
    assert unknown.action == "login_failed" and unknown.record_id is None
    assert json.loads(unknown.after)["username"] == "ghost"
    assert all(e.seq is not None and e.ip == "127.0.0.1" for e in (login, failed, unknown))
    assert "wrong-Passw0rd" not in json.dumps([e.__data__ for e in AuditEntry.select()], default=str)


def test_oauth_token_grants_are_audited_success_and_failure(client, make_user, admin_headers):
    user, _ = make_user("integrator", roles=("sales",))
    r = client.post(
        "/api/v1/oauth-clients",
        json={"name": "erp", "scopes": ["customers:read"], "user_id": user.id},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    grant = {"grant_type": "client_credentials", "client_id": made["client_id"]}
    ok = client.post("/oauth/token", data={**grant, "client_secret": made["client_secret"]})
    bad = client.post("/oauth/token", data={**grant, "client_secret": "not-the-secret"})
    assert (ok.status_code, bad.status_code) == (200, 401), (ok.get_json(), bad.get_json())
    logins = [e for e in events(kind="auth") if e.resource == "oauth_clients"]
    assert [(e.action, e.record_id) for e in logins] == [
        ("login", str(made["id"])),
        ("login_failed", str(made["id"])),
    ]
    assert logins[1].actor_id is None and json.loads(logins[1].after)["client_id"] == made["client_id"]
    assert made["client_secret"] not in json.dumps([e.__data__ for e in AuditEntry.select()], default=str)


def test_web_logins_are_audited_and_listed(client, make_user, admin_headers):
    user, _ = make_user("weblogin", roles=("sales",))
    assert web_login(client, "weblogin", "wrong-Passw0rd").status_code == 401
    assert web_login(client, "weblogin").status_code == 302
    assert [(e.action, e.record_id) for e in events(kind="auth")] == [
        ("login_failed", str(user.id)),
        ("login", str(user.id)),
    ]
    listed = client.get("/api/v1/audit?kind=auth", headers=admin_headers).get_json()
    assert [e["action"] for e in listed] == ["login", "login_failed"]


def test_record_event_is_the_public_function(app, make_user):
    from crm_core.auth import actor_for_user

    user, _ = make_user("evented", roles=("readonly",))
    entry = record_event(actor_for_user(user), "export", "deals", extra={"rows": 3})
    assert (entry.kind, entry.action, entry.actor_id, entry.client_id) == ("read", "export", user.id, "cli")
    assert entry.seq is not None and verify().ok


# --- sealing on write and deletion ---------------------------------------------------------------


def test_entries_written_through_the_api_are_sealed_without_the_scheduler(client, admin_headers):
    for i in range(3):
        client.post("/api/v1/customers", json={"name": f"s{i}"}, headers=admin_headers)
    rows = list(AuditEntry.select().order_by(AuditEntry.id))
    assert rows and all(r.seq is not None and r.hash for r in rows)
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    head = AuditHead.get_by_id(1)
    assert head.seq == rows[-1].seq and head.hash == rows[-1].hash
    assert verify().ok  # no seal() first


def test_deleting_the_newest_entry_is_detected(app, client, admin_headers):
    client.post("/api/v1/customers", json={"name": "first"}, headers=admin_headers)
    client.post("/api/v1/customers", json={"name": "newest"}, headers=admin_headers)
    newest = AuditEntry.select().order_by(AuditEntry.id.desc()).first()
    with tampering():
        AuditEntry.delete().where(AuditEntry.id == newest.id).execute()
    r = cli_verify(app)
    assert r.exit_code == 1 and "TAMPERED" in r.output and "cut off" in r.output, r.output


def test_deleting_the_newest_and_rolling_the_head_back_is_detected_for_good(app, client, admin_headers):
    client.post("/api/v1/customers", json={"name": "first"}, headers=admin_headers)
    client.post("/api/v1/customers", json={"name": "newest"}, headers=admin_headers)
    newest = AuditEntry.select().order_by(AuditEntry.seq.desc()).first()
    before = AuditEntry.get(AuditEntry.seq == newest.seq - 1)
    with tampering():
        AuditEntry.delete().where(AuditEntry.id == newest.id).execute()
    AuditHead.update(seq=before.seq, hash=before.hash).where(AuditHead.id == 1).execute()
    assert not verify().ok
    # a later write extends the chain but does not launder the rolled-back head
    client.post("/api/v1/customers", json={"name": "later"}, headers=admin_headers)
    r = cli_verify(app)
    assert r.exit_code == 1 and "MAC" in r.output, r.output


def test_a_head_without_its_mac_is_detected(client, admin_headers):
    client.post("/api/v1/customers", json={"name": "x"}, headers=admin_headers)
    AuditHead.update(mac=None, key_id=None).where(AuditHead.id == 1).execute()
    result = verify()
    assert not result.ok and "MAC" in result.reason


# --- rewriting without the key ------------------------------------------------------------------


def _rechain(hasher):
    """Rewrite the whole sealed chain as a forger would: recompute every hash and the head."""
    prev = ""
    rows = list(AuditEntry.select().where(AuditEntry.seq.is_null(False)).order_by(AuditEntry.seq))
    with tampering():
        for row in rows:
            digest = hasher(row, row.seq, prev)
            AuditEntry.update(prev_hash=prev, hash=digest).where(AuditEntry.id == row.id).execute()
            prev = digest
    return rows, prev


def test_rewriting_an_entry_and_recomputing_an_unkeyed_chain_is_detected(app, client, admin_headers):
    for i in range(4):
        client.post("/api/v1/customers", json={"name": f"c{i}"}, headers=admin_headers)
    assert cli_verify(app).exit_code == 0
    target = AuditEntry.select().where(AuditEntry.resource == "customers").order_by(AuditEntry.seq).first()
    with tampering():
        AuditEntry.update(after='{"name":"forged"}').where(AuditEntry.id == target.id).execute()
    rows, last = _rechain(legacy_hash)  # plain SHA-256, as the chain was before it was keyed
    AuditHead.update(hash=last, mac=None, key_id=None).where(AuditHead.id == 1).execute()
    r = cli_verify(app)
    assert r.exit_code == 1 and f"entry id {rows[0].id}" in r.output and "audit key" in r.output, r.output


def test_recomputing_the_chain_with_another_key_is_detected(app, client, admin_headers):
    import hashlib

    for i in range(3):
        client.post("/api/v1/customers", json={"name": f"k{i}"}, headers=admin_headers)
    target = AuditEntry.select().order_by(AuditEntry.seq.desc()).first()
    with tampering():
        AuditEntry.update(actor_name="someone else").where(AuditEntry.id == target.id).execute()
    guess = hashlib.sha256(b"test-secret-key").digest()  # the SECRET_KEY itself is not the key
    from crm_core.audit.chain import entry_hash

    _rows, last = _rechain(lambda row, seq, prev: entry_hash(row, seq, prev, guess))
    head = AuditHead.get_by_id(1)
    AuditHead.update(hash=last, mac=head_mac(guess, head.seq, last)).where(AuditHead.id == 1).execute()
    result = verify()
    assert not result.ok and result.bad_seq == 1


def test_the_key_comes_from_audit_key_when_set(app, client, admin_headers):
    client.post("/api/v1/customers", json={"name": "k"}, headers=admin_headers)
    assert verify().ok
    default_id = audit_key()[1]
    app.config["AUDIT_KEY"] = "a" * 40
    try:
        assert audit_key()[1] != default_id
        result = verify()  # the log was sealed with the key derived from SECRET_KEY
        assert not result.ok and default_id in result.reason
    finally:
        app.config["AUDIT_KEY"] = ""
    assert verify().ok


def test_a_short_audit_key_is_refused():
    with pytest.raises(ConfigError, match="AUDIT_KEY"):
        load_config({"AUDIT_KEY": "short"}, environ={})
    assert load_config({"AUDIT_KEY": "x" * 32}, environ={})["AUDIT_KEY"] == "x" * 32


# --- chains sealed before the key ---------------------------------------------------------------


def _make_legacy_chain():
    """Turn the current log into what an install before the keyed chain has: SHA-256 hashes,
    a head without MAC or key id."""
    rows, last = _rechain(legacy_hash)
    AuditHead.update(seq=rows[-1].seq, hash=last, mac=None, key_id=None).where(AuditHead.id == 1).execute()
    return rows


def test_a_legacy_chain_verifies_once_adopted_and_stays_protected(client, admin_headers):
    for i in range(3):
        client.post("/api/v1/customers", json={"name": f"l{i}"}, headers=admin_headers)
    rows = _make_legacy_chain()
    assert not verify().ok  # not vouched for: SHA-256 alone proves nothing
    assert adopt_legacy() == rows[-1].seq and adopt_legacy() == 0
    anchor = AuditEntry.get(AuditEntry.action == "rekey")
    assert anchor.kind == "anchor" and anchor.seq == rows[-1].seq + 1
    client.post("/api/v1/customers", json={"name": "after"}, headers=admin_headers)
    assert verify().ok
    # rewriting a legacy entry and recomputing the legacy part of the chain breaks the anchor
    with tampering():
        AuditEntry.update(after='{"name":"forged"}').where(AuditEntry.id == rows[1].id).execute()
    prev = AuditEntry.get_by_id(rows[0].id).hash
    with tampering():
        for row in rows[1:]:
            row = AuditEntry.get_by_id(row.id)
            digest = legacy_hash(row, row.seq, prev)
            AuditEntry.update(prev_hash=prev, hash=digest).where(AuditEntry.id == row.id).execute()
            prev = digest
    result = verify()
    assert not result.ok and result.bad_id == anchor.id


def test_the_migration_adopts_an_existing_chain(app, client, admin_headers):
    client.post("/api/v1/customers", json={"name": "m"}, headers=admin_headers)
    _make_legacy_chain()
    mig = load_migration("0003_keyed_chain.py")

    class NoColumns:  # the columns exist already: only the adoption step runs
        def migrate(self, *ops):
            pass

        def add_column(self, *args):
            return None

    mig.up(NoColumns(), app.extensions["crm"].db)
    assert AuditEntry.select().where(AuditEntry.action == "rekey").count() == 1
    assert verify().ok


# --- concurrency ---------------------------------------------------------------------------------


def test_concurrent_audited_reads_do_not_fork_the_chain(app):
    """Events written outside any transaction (each in its own) from several threads, while
    ``verify`` runs: it reads one snapshot, so writers committing meanwhile are no false alarm."""
    from crm_core.db import database

    errors = []
    verdicts = []
    done = threading.Event()

    def verifier():
        with app.app_context():
            while not done.is_set():
                verdicts.append(verify())
            database.close()

    def reader(n):
        try:
            with app.app_context():
                for i in range(8):
                    record_event(None, "export", "customers", extra={"n": n, "i": i})
                database.close()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(4)]
    checking = threading.Thread(target=verifier)
    checking.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    checking.join()
    assert not errors, errors
    assert verdicts and all(v.ok for v in verdicts), [v.describe() for v in verdicts if not v.ok][:3]
    assert seal() == 0
    seqs = [e.seq for e in AuditEntry.select().order_by(AuditEntry.seq)]
    assert seqs == list(range(1, 33))
    assert verify().ok
