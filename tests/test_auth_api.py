"""Identity over HTTP: login, lockout and rate limits, token lifetime and revocation, personal
tokens, password changes, OAuth2 client credentials and their scopes."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from crm_core.auth.models import AccessToken
from crm_core.testing import TEST_PASSWORD


def login(client, username, password=TEST_PASSWORD, ip="10.0.0.1"):
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_login_logout_and_token_reuse(client, make_user):
    make_user("alice", roles=("sales",))
    r = login(client, "alice")
    assert r.status_code == 200 and r.get_json()["token_type"] == "Bearer" and r.get_json()["expires_in"] > 0
    token = r.get_json()["access_token"]
    assert client.get("/api/v1/users/me", headers=bearer(token)).get_json()["username"] == "alice"
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    r = client.get("/api/v1/users/me", headers=bearer(token))
    assert r.status_code == 401 and r.get_json()["code"] == 401 and "Bearer" in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "roles, tickets_create, customers_export",
    [
        ((), None, None),
        (("sales",), None, "own"),
        (("service",), "department", None),
        (("sales", "service"), "department", "own"),  # a bearer token carries every role it has
    ],
)
def test_a_token_carries_all_its_users_roles(client, make_user, roles, tickets_create, customers_export):
    _user, headers = make_user(roles=roles)
    me = client.get("/api/v1/users/me", headers=headers).get_json()
    assert sorted(me["roles"]) == sorted(roles)
    assert me["permissions"]["tickets"]["create"] == tickets_create
    assert me["permissions"]["customers"]["export"] == customers_export


def test_expired_token_is_refused(client, make_user):
    _user, headers = make_user("bob", roles=("sales",))
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200
    AccessToken.update(expires_at=dt.datetime(2000, 1, 1)).execute()
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401


@pytest.mark.parametrize("password", ["wrong", "", "' OR '1'='1", TEST_PASSWORD + " "])
def test_wrong_password_is_401_json(client, make_user, password):
    make_user("carol", roles=("sales",))
    r = login(client, "carol", password)
    assert r.status_code in (401, 422) and r.get_json()["code"] == r.status_code


def test_lockout_after_repeated_failures(client, make_user, app):
    app.config["RATELIMIT_LOGIN"] = "1000/minute"  # isolate the per-user lockout from the IP limit
    make_user("dave", roles=("sales",))
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert login(client, "dave", "wrong", ip="10.1.0.1").status_code == 401
    r = login(client, "dave", ip="10.1.0.1")  # right password, but locked from this address
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and r.get_json()["code"] == 429
    from crm_core.auth.models import User

    # the lockout is per (username, IP): dave still signs in from anywhere else (issue 14)
    assert login(client, "dave", ip="10.1.1.2").status_code == 200
    assert User.get(User.username == "dave").failed_logins == 0
    # an administrator's lock (locked_until) holds everywhere
    User.update(locked_until=dt.datetime(2999, 1, 1)).where(User.username == "dave").execute()
    assert login(client, "dave", ip="10.1.1.3").status_code == 429


def test_brute_force_hits_the_ip_rate_limit(client, make_user):
    make_user("erin", roles=("sales",))
    codes = [login(client, f"nobody{i}", "wrong", ip="10.2.0.1").status_code for i in range(30)]
    assert 429 in codes
    limited = login(client, "erin", ip="10.2.0.1")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert login(client, "erin", ip="10.2.0.2").status_code == 200  # per IP


def test_api_calls_are_limited_per_token(db_url, app_config):
    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token

    app = create_app({**app_config, "DATABASE_URL": db_url, "RATELIMIT_DEFAULT": "5/minute"})
    client = app.test_client()
    with app.app_context():
        headers = bearer(issue_token(create_user("frank", TEST_PASSWORD, roles=("sales",)))[0])
        other = bearer(issue_token(create_user("grace", TEST_PASSWORD, roles=("sales",)))[0])
    codes = [client.get("/api/v1/users/me", headers=headers).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[-1] == 429
    r = client.get("/api/v1/users/me", headers=headers)
    assert r.get_json()["code"] == 429 and int(r.headers["Retry-After"]) >= 1
    assert client.get("/api/v1/users/me", headers=other).status_code == 200  # counted per token
    app.extensions["crm"].db.close()


def test_personal_tokens_shown_once_listed_revoked(client, make_user):
    _u, headers = make_user("heidi", roles=("sales",))
    r = client.post("/api/v1/auth/tokens", json={"name": "ci", "expires_in_days": 30}, headers=headers)
    assert r.status_code == 201
    created = r.get_json()
    raw = created["token"]
    assert client.get("/api/v1/users/me", headers=bearer(raw)).status_code == 200
    listed = client.get("/api/v1/auth/tokens", headers=headers).get_json()
    assert [t["name"] for t in listed] == ["ci"] and all("token" not in t for t in listed)
    assert listed[0]["last_used_at"] and listed[0]["expires_at"]
    assert AccessToken.select().where(AccessToken.token_hash == raw).count() == 0  # stored hashed
    # someone else cannot revoke it (IDOR): 404
    _u2, mallory = make_user("mallory", roles=("sales",))
    assert client.delete(f"/api/v1/auth/tokens/{created['id']}", headers=mallory).status_code == 404
    assert client.delete("/api/v1/auth/tokens/1%20OR%201=1", headers=mallory).status_code == 404
    assert client.delete(f"/api/v1/auth/tokens/{created['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/users/me", headers=bearer(raw)).status_code == 401


def test_password_change_revokes_other_tokens(client, make_user):
    _u, headers = make_user("ivan", roles=("sales",))
    other = login(client, "ivan").get_json()["access_token"]
    personal = client.post("/api/v1/auth/tokens", json={"name": "x"}, headers=headers).get_json()["token"]
    r = client.post(
        "/api/v1/users/me/password",
        json={"current_password": "wrong", "new_password": "N3w-password!"},
        headers=headers,
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/users/me/password",
        json={"current_password": TEST_PASSWORD, "new_password": "short"},
        headers=headers,
    )
    assert r.status_code == 422 and "password" in r.get_json()["errors"]
    r = client.post(
        "/api/v1/users/me/password",
        json={"current_password": TEST_PASSWORD, "new_password": "N3w-password!"},
        headers=headers,
    )
    assert r.status_code == 204
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200  # the caller's own token
    for token in (other, personal):
        assert client.get("/api/v1/users/me", headers=bearer(token)).status_code == 401
    assert login(client, "ivan").status_code == 401
    assert login(client, "ivan", "N3w-password!").status_code == 200


@pytest.fixture
def oauth_client(client, make_user, admin_headers):
    """An OAuth2 client acting for a sales user, allowed to read customers only."""
    from crm_core.directory.departments import create_department

    dept = create_department("north")
    user, user_headers = make_user("agent", roles=("sales",), department_id=dept.id)
    r = client.post(
        "/api/v1/oauth-clients",
        json={"name": "shop", "user_id": user.id, "scopes": ["customers:read"]},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    return body["client_id"], body["client_secret"], user, user_headers, body["id"]


def oauth_token(client, client_id, secret, scope=None, basic=False):
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    headers = {}
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    else:
        data.update(client_id=client_id, client_secret=secret)
    return client.post("/oauth/token", data=data, headers=headers)


def test_oauth_unknown_client_and_bad_secret(client, oauth_client):
    client_id, _secret, *_ = oauth_client
    for cid, secret in (("nobody", "x"), (client_id, "wrong"), ("' OR 1=1 --", "x")):
        r = oauth_token(client, cid, secret)
        assert r.status_code in (400, 401) and r.is_json
        body = r.get_json()
        assert body["error"] == "invalid_client" and body["code"] == r.status_code


def test_oauth_token_scopes_intersect_the_users_grants(client, oauth_client, admin_headers):
    client_id, secret, user, user_headers, pk = oauth_client
    r = oauth_token(client, client_id, secret, basic=True)
    assert r.status_code == 200, r.get_json()
    token = r.get_json()["access_token"]
    assert r.get_json()["scope"] == "customers:read"
    # the user's own customer in their department, and one elsewhere
    mine = client.post("/api/v1/customers", json={"name": "theirs"}, headers=user_headers).get_json()
    elsewhere = client.post("/api/v1/customers", json={"name": "elsewhere"}, headers=admin_headers).get_json()
    listed = client.get("/api/v1/customers", headers=bearer(token))
    assert listed.status_code == 200 and [c["name"] for c in listed.get_json()] == ["theirs"]
    assert client.get(f"/api/v1/customers/{elsewhere['id']}", headers=bearer(token)).status_code == 404
    # a call the scope does not cover: 403 even though the user may do it
    r = client.patch(f"/api/v1/customers/{mine['id']}", json={"name": "x"}, headers=bearer(token))
    assert r.status_code == 403
    assert client.post("/api/v1/customers", json={"name": "new"}, headers=bearer(token)).status_code == 403
    assert client.get("/api/v1/users", headers=bearer(token)).status_code == 403
    me = client.get("/api/v1/users/me", headers=bearer(token)).get_json()
    assert me["client_id"] == client_id and me["scopes"] == ["customers:read"]
    # asking for more than the client has gives no more
    r = oauth_token(client, client_id, secret, scope="customers:read customers:write")
    assert r.status_code == 200 and r.get_json()["scope"] == "customers:read"
    # revoking the client kills its tokens
    assert client.delete(f"/api/v1/oauth-clients/{pk}", headers=admin_headers).status_code == 204
    assert client.get("/api/v1/customers", headers=bearer(token)).status_code == 401
    assert oauth_token(client, client_id, secret).status_code in (400, 401)


def test_only_admins_manage_oauth_clients(client, make_user):
    user, headers = make_user("manny", roles=("manager",))
    r = client.post(
        "/api/v1/oauth-clients",
        json={"name": "x", "user_id": user.id, "scopes": ["customers:read"]},
        headers=headers,
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    "scopes, field",
    [([], "scopes"), (["nonsense"], "scopes"), (["nope:read"], "scopes"), (["customers:fly"], "scopes")],
)
def test_oauth_client_validation(client, admin_headers, make_user, scopes, field):
    user, _ = make_user("target", roles=("sales",))
    r = client.post(
        "/api/v1/oauth-clients",
        json={"name": "x", "user_id": user.id, "scopes": scopes},
        headers=admin_headers,
    )
    assert r.status_code == 422 and field in r.get_json()["errors"]


@pytest.mark.parametrize(
    "body", [{"username": "a\x00b", "password": "x"}, {"username": "a", "password": "x\x00"}]
)
def test_nul_characters_in_login_are_422(client, body):
    r = client.post("/api/v1/auth/token", json=body)
    assert r.status_code == 422 and r.get_json()["errors"]


def _redis_url():
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return url


def test_redis_storage_shares_counts_between_workers(db_url, app_config):
    """Two app instances (two workers) on one Redis count the same token together."""
    url = _redis_url()
    if url is None:
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token

    config = {
        **app_config,
        "DATABASE_URL": db_url,
        "RATELIMIT_STORAGE_URL": url,
        "RATELIMIT_DEFAULT": "4/minute",
    }
    first, second = create_app(config), create_app(config)
    with first.app_context():
        headers = bearer(issue_token(create_user("worker_user", TEST_PASSWORD, roles=("sales",)))[0])
    codes = []
    for i in range(6):
        codes.append(
            (first if i % 2 == 0 else second)
            .test_client()
            .get("/api/v1/users/me", headers=headers)
            .status_code
        )
    assert codes[:4] == [200] * 4 and codes[4:] == [429, 429]
    for app in (first, second):
        app.extensions["crm"].db.close()


def test_successful_logins_from_one_address_are_not_limited(client, make_user):
    make_user("office", roles=("sales",))
    assert {login(client, "office", ip="10.3.0.1").status_code for _ in range(15)} == {200}
    codes = [login(client, "office", "wrong", ip="10.3.0.1").status_code for _ in range(11)]
    assert codes[:4] == [401] * 4 and codes[-1] == 429


def test_oauth_failures_count_towards_the_ip_limit(client):
    codes = [
        client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
            environ_base={"REMOTE_ADDR": "10.4.0.1"},
        ).status_code
        for _ in range(12)
    ]
    assert codes[0] in (400, 401) and codes[-1] == 429


def test_oauth_writes_are_audited_with_the_client(client, make_user, admin_headers):
    from crm_core.audit.models import AuditEntry

    user, _ = make_user("integrator", roles=("sales",))
    body = client.post(
        "/api/v1/oauth-clients",
        json={"name": "erp", "user_id": user.id, "scopes": ["customers:write"]},
        headers=admin_headers,
    ).get_json()
    token = oauth_token(client, body["client_id"], body["client_secret"]).get_json()["access_token"]
    r = client.post("/api/v1/customers", json={"name": "from erp"}, headers=bearer(token))
    assert r.status_code == 201 and r.get_json()["owner_id"] == user.id
    entry = AuditEntry.get(AuditEntry.resource == "customers", AuditEntry.action == "create")
    assert entry.client_id == body["client_id"] and entry.actor_id == user.id


def test_admin_password_reset_revokes_the_users_tokens(client, make_user, admin_headers):
    user, headers = make_user("forgetful", roles=("sales",))
    r = client.patch(f"/api/v1/users/{user.id}", json={"password": "Fresh-passw0rd"}, headers=admin_headers)
    assert r.status_code == 200
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401
    assert login(client, "forgetful", "Fresh-passw0rd").status_code == 200
