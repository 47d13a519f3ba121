"""Request stamps (``crm_core.stamps``): an API call reads the permission revision and the custom
fields' version with its bearer token, in one statement; a request that changes either reads it
again; outside a request every read asks the database."""

from __future__ import annotations

from crm_core import stamps
from crm_core.auth import revoke_user_tokens
from crm_core.custom.fielddefs import VERSION_STAMP, bump_version, current_version
from crm_core.custom.models import MetadataState
from crm_core.permissions import invalidate, revision
from crm_core.permissions.revision import STAMP
from crm_core.testing import statements_of

API = "/api/v1"


def test_a_detail_read_is_the_stamps_the_record_and_its_tags(client, admin_headers, db):
    created = client.post(
        f"{API}/customers", json={"name": "Stamped", "tags": ["vip"]}, headers=admin_headers
    )
    record_id = created.get_json()["id"]
    client.get(f"{API}/customers/{record_id}", headers=admin_headers)  # per-process caches warm

    r, seen = statements_of(db, lambda: client.get(f"{API}/customers/{record_id}", headers=admin_headers))

    assert r.status_code == 200 and r.get_json()["tags"] == ["vip"]
    if hasattr(db, "expect"):
        # PostgreSQL: a read assumes the stamps, checked in the record's round trip
        # (tests/test_assumed_stamps.py): the record and its tags, as a bare app reads them
        assert len(seen) == 2, seen
        assert not any("permission_revision" in s or "metadata_state" in s for s in seen)
        return
    assert len(seen) == 3, seen
    # the token was resolved by the requests before: only the stamps are read, in one statement
    stamps_read = seen[0]
    assert '"permission_revision"' in stamps_read and '"metadata_state"' in stamps_read
    assert not any("permission_revision" in s or "metadata_state" in s for s in seen[1:])


def test_a_token_met_first_brings_the_stamps_with_it(client, make_user, db):
    _, headers = make_user(roles=["sales"])
    r, seen = statements_of(db, lambda: client.get(f"{API}/customers", headers=headers))
    assert r.status_code == 200
    token = seen[0]
    assert '"access_token"' in token and '"permission_revision"' in token and '"metadata_state"' in token
    assert not any("permission_revision" in s or "metadata_state" in s for s in seen[1:])


def test_the_token_carries_what_the_database_holds(app, client, admin_headers, db):
    client.get(f"{API}/customers", headers=admin_headers)
    nonce = revision.current()[1]
    with app.test_request_context(f"{API}/customers", headers=admin_headers):
        app.preprocess_request()  # the token lookup of the request, as a real one runs it
        assert stamps.value(STAMP) == nonce
        assert stamps.value(VERSION_STAMP) == stamps.fresh(VERSION_STAMP)


def test_a_request_that_changes_permissions_reads_the_revision_again(app, db):
    with app.test_request_context("/"):
        stamps.prime({STAMP: "stale", VERSION_STAMP: -1})
        assert revision.request_cache()._nonce() == "stale"
        assert current_version() == -1
        invalidate()
        assert revision.request_cache()._nonce() == revision.current()[1]
        with db.atomic() as tx:
            bump_version()  # a definition changed in this request: its own new version
            assert current_version() == stamps.fresh(VERSION_STAMP) != -1
            tx.rollback()


def test_outside_a_request_every_read_asks_the_database(app, db):
    with app.app_context():
        before = current_version()
        with db.atomic():
            bump_version()
            after = current_version()
        assert after != before and current_version() == after


def test_a_stamp_missing_from_the_token_statement_is_read_when_asked(app, client, admin_headers):
    client.get(f"{API}/customers", headers=admin_headers)  # the token statement is compiled
    stamps.register(
        "test_late", lambda: MetadataState.select(MetadataState.version).where(MetadataState.id == 1)
    )
    try:
        with app.test_request_context(f"{API}/customers", headers=admin_headers):
            app.preprocess_request()
            assert stamps.value("test_late") == stamps.fresh(VERSION_STAMP)
    finally:
        stamps._REGISTERED.pop("test_late")


def test_a_revoked_token_is_refused_at_once(client, make_user):
    user, headers = make_user(roles=["sales"])
    assert client.get(f"{API}/customers", headers=headers).status_code == 200
    revoke_user_tokens(user)
    assert client.get(f"{API}/customers", headers=headers).status_code == 401


def test_a_keyed_create_asks_for_its_key_with_the_stamps(client, admin_headers, db):
    client.get(f"{API}/customers", headers=admin_headers)  # the token is kept from here on
    headers = {**admin_headers, "Idempotency-Key": "probe-1"}
    r, seen = statements_of(db, lambda: client.post(f"{API}/customers", json={"name": "P"}, headers=headers))
    assert r.status_code == 201
    if not hasattr(db, "expect"):  # (PostgreSQL assumes it absent: tests/test_assumed_stamps.py)
        assert '"idempotency_key"' in seen[0] and '"permission_revision"' in seen[0]
    lookups = [s for s in seen[1:] if s.startswith("SELECT") and '"idempotency_key"' in s]
    assert lookups == [], lookups
    # the same key again: the probe finds it, the stored answer is replayed
    again = client.post(f"{API}/customers", json={"name": "P"}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == r.get_json()


def test_a_probe_nobody_asked_for_is_not_answered(app):
    with app.test_request_context("/"):
        assert stamps.probed("idempotency_key") == (False, None)
