"""Bearer tokens kept per worker behind the permission revision (``crm_core.auth.token_cache``):
a token met again costs only the request stamps; expiry still holds by the clock; each request
gets its own user. Another worker's changes: tests/test_perf_revision.py."""

from __future__ import annotations

import time

from crm_core.auth import issue_token, token_actor
from crm_core.auth.models import User
from crm_core.testing import statements_of


def test_a_kept_token_reads_only_the_stamps(client, admin_headers, db):
    client.get("/api/v1/users/me", headers=admin_headers)
    r, seen = statements_of(db, lambda: client.get("/api/v1/users/me", headers=admin_headers))
    assert r.status_code == 200
    assert not any('"access_token"' in s for s in seen), seen
    if hasattr(db, "expect"):  # PostgreSQL: not even those (tests/test_assumed_stamps.py)
        assert not any('"permission_revision"' in s for s in seen), seen
    else:
        assert '"permission_revision"' in seen[0] and '"metadata_state"' in seen[0]


def test_an_expired_token_is_refused_though_kept(app, client, make_user):
    user, _ = make_user(roles=["sales"])
    with app.app_context():
        raw, _ = issue_token(User.get_by_id(user.id), ttl=1)
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200
    time.sleep(1.1)
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401


def test_each_request_gets_its_own_user(app, make_user):
    user, headers = make_user(roles=["sales"])
    raw = headers["Authorization"].split()[1]
    with app.test_request_context("/api/v1/users/me"):
        first = token_actor(raw)
        first.user.name = "changed in one request only"
    with app.test_request_context("/api/v1/users/me"):
        second = token_actor(raw)
    assert second.user is not first.user and second.user.name == user.name
    assert second.roles == first.roles == frozenset({"sales"})


def test_a_password_change_refuses_the_other_tokens_at_once(app, client, make_user):
    user, headers = make_user(roles=["sales"], password="Old-Passw0rd!x")
    with app.app_context():
        other, _ = issue_token(User.get_by_id(user.id))
    elsewhere = {"Authorization": f"Bearer {other}"}
    assert client.get("/api/v1/users/me", headers=elsewhere).status_code == 200  # kept
    change = {"current_password": "Old-Passw0rd!x", "new_password": "New-Passw0rd!y-2"}
    r = client.post("/api/v1/users/me/password", json=change, headers=headers)
    assert r.status_code == 204, r.get_json()
    assert client.get("/api/v1/users/me", headers=elsewhere).status_code == 401
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200  # the one that changed it
