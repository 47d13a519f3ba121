"""OAuth2 authorization code + PKCE for third-party apps, through the public interface: app
registration (API), the consent screen (/authorize, as a logged-in user), the token and
revocation endpoints. The browser walk-through is tests/test_oauth_pkce_browser.py."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.browser_testing import CSRF_RE, web_login
from crm_core.directory.clients import redirect_uri_problems
from crm_core.testing import TEST_PASSWORD

REDIRECT = "http://127.0.0.1:8765/callback"
VERIFIER = "v" * 20 + secrets.token_urlsafe(32)


def challenge(verifier: str = VERIFIER) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def register(client, headers, public=False, scopes=("customers:read", "deals:read", "tickets:read")):
    r = client.post(
        "/api/v1/oauth-clients",
        json={
            "name": "Report Builder",
            "grant_type": "authorization_code",
            "redirect_uris": [REDIRECT, "https://reports.example.com/cb"],
            "scopes": list(scopes),
            "public": public,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def auth_query(app, scope="customers:read deals:read", **over):
    params = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-123",
        "code_challenge": challenge(),
        "code_challenge_method": "S256",
        **over,
    }
    return "/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def consent(client, app, decision="approve", **over):
    """GET the consent screen, then POST the decision; the answer (a redirect to the app)."""
    page = client.get(auth_query(app, **over))
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    html = page.get_data(as_text=True)
    form = dict(parse_qs(urlsplit(auth_query(app, **over)).query, keep_blank_values=True))
    data = {k: v[0] for k, v in form.items()}
    data.update(csrf_token=CSRF_RE.search(html).group(1), decision=decision)
    return client.post("/authorize", data=data)


def redirected(response) -> dict:
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(client, app, code, verifier=VERIFIER, redirect_uri=REDIRECT):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    if app.get("client_secret"):
        return client.post("/oauth/token", data=data, auth=(app["client_id"], app["client_secret"]))
    return client.post("/oauth/token", data={**data, "client_id": app["client_id"]})


def refresh(client, app, token):
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return client.post("/oauth/token", data=data, auth=(app["client_id"], app["client_secret"]))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def setup(client, make_user, admin_headers):
    """An app, a customer-service user (customers and tickets of their department, no deals)
    logged in to the workbench, and customers in and out of their department."""
    dept = client.post("/api/v1/departments", json={"name": "Support"}, headers=admin_headers).get_json()
    user, user_headers = make_user("agent", roles=("service",), department_id=dept["id"])
    mine = client.post(
        "/api/v1/customers",
        json={"name": "In my department", "department_id": dept["id"]},
        headers=admin_headers,
    ).get_json()
    other = client.post("/api/v1/customers", json={"name": "Elsewhere"}, headers=admin_headers).get_json()
    app = register(client, admin_headers)
    assert web_login(client, "agent").status_code == 302
    return {"app": app, "user_headers": user_headers, "mine": mine, "other": other, "admin": admin_headers}


def test_full_flow_token_acts_as_the_user_narrowed_by_scopes(client, setup):
    app = setup["app"]
    page = client.get(auth_query(app, scope="customers:read deals:read"))
    html = page.get_data(as_text=True)
    # deals:read is dropped (the user does not hold it) and shown as not granted
    assert 'id="granted-scopes"' in html and 'data-scope="customers:read"' in html
    assert 'id="dropped-scopes"' in html and 'data-scope="deals:read"' in html
    answer = redirected(consent(client, app, scope="customers:read deals:read"))
    assert answer["state"] == "st-123" and answer["iss"].startswith("http")
    r = exchange(client, app, answer["code"])
    assert r.status_code == 200, r.get_json()
    token = r.get_json()
    assert token["scope"] == "customers:read" and token["refresh_token"] and token["token_type"] == "Bearer"
    seen = client.get("/api/v1/customers", headers=bearer(token["access_token"])).get_json()
    own = client.get("/api/v1/customers", headers=setup["user_headers"]).get_json()
    ids = {c["id"] for c in seen}
    assert seen == own and setup["mine"]["id"] in ids
    assert setup["other"]["id"] not in ids
    # the user reads tickets, but the app was not granted tickets:read; deals were dropped
    assert client.get("/api/v1/tickets", headers=bearer(token["access_token"])).status_code == 403
    assert client.get("/api/v1/deals", headers=bearer(token["access_token"])).status_code == 403
    assert client.get("/api/v1/tickets", headers=setup["user_headers"]).status_code == 200


PKCE_REFUSALS = [
    ({"code_challenge": None, "code_challenge_method": None}, "PKCE is required"),
    ({"code_challenge_method": "plain"}, "must be S256"),
    ({"code_challenge_method": None}, "must be S256"),  # absent means plain (RFC 7636 §4.3)
    ({"code_challenge": "short"}, "Invalid 'code_challenge'"),
]


def test_missing_or_plain_code_challenge_is_refused(client, setup):
    for over, fragment in PKCE_REFUSALS:  # one database for the four cases: they write nothing
        answer = redirected(client.get(auth_query(setup["app"], **over)))
        assert answer["error"] == "invalid_request" and fragment in answer["error_description"], over
        assert answer["state"] == "st-123" and "code" not in answer


@pytest.mark.parametrize("public", [False, True])
def test_wrong_or_missing_verifier_is_refused_for_every_client(client, setup, public):
    app = setup["app"] if not public else register(client, setup["admin"], public=True)
    assert app.get("client_secret") is None if public else app["client_secret"]
    code = redirected(consent(client, app))["code"]
    r = exchange(client, app, code, verifier=None)
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_request"
    assert "code_verifier" in r.get_json()["error_description"]
    r = exchange(client, app, code, verifier="w" * 50)
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_grant"
    assert r.get_json()["message"] == r.get_json()["error_description"]  # the API's shape too
    r = exchange(client, app, code)  # a failed attempt does not burn the code
    assert r.status_code == 200 and r.get_json()["scope"] == "customers:read"


def test_code_reuse_is_refused_and_revokes_the_tokens_issued_from_it(client, setup):
    app = setup["app"]
    code = redirected(consent(client, app))["code"]
    token = exchange(client, app, code).get_json()
    assert client.get("/api/v1/customers", headers=bearer(token["access_token"])).status_code == 200
    again = exchange(client, app, code)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert "already used" in again.get_json()["error_description"]
    assert client.get("/api/v1/customers", headers=bearer(token["access_token"])).status_code == 401
    assert refresh(client, app, token["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_exactly(client, setup):
    app = setup["app"]
    for wrong in (
        REDIRECT + "/",
        REDIRECT + "?x=1",
        "http://127.0.0.1:8765/other",
        "https://evil.example/cb",
    ):
        r = client.get(auth_query(app, redirect_uri=wrong))
        # never redirected to an unregistered address: an error page on our side
        assert r.status_code == 400 and "Location" not in r.headers
        assert 'id="oauth-error"' in r.get_data(as_text=True)
    assert client.get(auth_query(app, redirect_uri=None)).status_code == 400
    code = redirected(consent(client, app))["code"]
    r = exchange(client, app, code, redirect_uri="https://reports.example.com/cb")  # registered, not used
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_grant"
    assert "redirect_uri" in r.get_json()["error_description"]


def test_deny_and_unknown_app(client, setup):
    answer = redirected(consent(client, setup["app"], decision="deny"))
    assert answer["error"] == "access_denied" and answer["state"] == "st-123" and "code" not in answer
    r = client.get(auth_query({"client_id": "crm_nope"}))
    assert r.status_code == 400 and "not registered" in r.get_data(as_text=True)
    # nothing the user holds: invalid_scope back to the app
    answer = redirected(client.get(auth_query(setup["app"], scope="deals:read")))
    assert answer["error"] == "invalid_scope"


def test_login_first_then_back_to_the_consent_screen(client, setup):
    client.post(
        "/logout", data={"csrf_token": CSRF_RE.search(client.get("/").get_data(as_text=True)).group(1)}
    )
    r = client.get(auth_query(setup["app"]))
    assert r.status_code == 302 and "/login?next=" in r.headers["Location"]
    login = web_login_to(client, r.headers["Location"])
    assert login.status_code == 302 and login.headers["Location"].startswith("/authorize?")
    assert 'id="oauth-consent"' in client.get(login.headers["Location"]).get_data(as_text=True)


def web_login_to(client, login_url):
    html = client.get(login_url).get_data(as_text=True)
    nxt = parse_qs(urlsplit(login_url).query)["next"][0]
    token = CSRF_RE.search(html).group(1)
    data = {"username": "agent", "password": TEST_PASSWORD, "csrf_token": token, "next": nxt}
    return client.post("/login", data=data)


def test_refresh_rotation_and_reuse_detection(client, setup):
    app = setup["app"]
    first = exchange(client, app, redirected(consent(client, app))["code"]).get_json()
    second = refresh(client, app, first["refresh_token"])
    assert second.status_code == 200, second.get_json()
    second = second.get_json()
    assert second["refresh_token"] != first["refresh_token"] and second["scope"] == "customers:read"
    assert client.get("/api/v1/customers", headers=bearer(second["access_token"])).status_code == 200
    # the rotated token again: refused, and the whole family is revoked
    replay = refresh(client, app, first["refresh_token"])
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert "already used" in replay.get_json()["error_description"]
    assert client.get("/api/v1/customers", headers=bearer(second["access_token"])).status_code == 401
    assert refresh(client, app, second["refresh_token"]).get_json()["error"] == "invalid_grant"
    # narrowing on refresh is allowed, widening is not
    third = exchange(client, app, redirected(consent(client, app))["code"]).get_json()
    wider = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": third["refresh_token"],
            "scope": "tickets:read",
        },
        auth=(app["client_id"], app["client_secret"]),
    )
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"


def test_revocation_endpoint(client, setup):
    app = setup["app"]
    creds = (app["client_id"], app["client_secret"])
    one = exchange(client, app, redirected(consent(client, app))["code"]).get_json()
    r = client.post("/oauth/revoke", data={"token": one["access_token"]}, auth=creds)
    assert r.status_code == 200
    assert client.get("/api/v1/customers", headers=bearer(one["access_token"])).status_code == 401
    # a refresh token revokes its whole authorization
    assert refresh(client, app, one["refresh_token"]).status_code == 200  # still live until revoked
    two = exchange(client, app, redirected(consent(client, app))["code"]).get_json()
    data = {"token": two["refresh_token"], "token_type_hint": "refresh_token"}
    assert client.post("/oauth/revoke", data=data, auth=creds).status_code == 200
    assert client.get("/api/v1/customers", headers=bearer(two["access_token"])).status_code == 401
    assert refresh(client, app, two["refresh_token"]).get_json()["error"] == "invalid_grant"
    # unknown tokens are a 200 (RFC 7009 §2.2); a wrong secret is invalid_client
    assert client.post("/oauth/revoke", data={"token": "nope"}, auth=creds).status_code == 200
    bad = client.post("/oauth/revoke", data={"token": "nope"}, auth=(app["client_id"], "wrong"))
    assert bad.status_code == 401 and bad.get_json()["error"] == "invalid_client"
    assert client.post("/oauth/revoke", data={}, auth=creds).get_json()["error"] == "invalid_request"


def test_authorized_apps_page_lists_and_withdraws(client, setup):
    app = setup["app"]
    token = exchange(client, app, redirected(consent(client, app))["code"]).get_json()
    html = client.get("/account/apps").get_data(as_text=True)
    assert f'data-client="{app["client_id"]}"' in html and "Report Builder" in html
    page = client.get("/account/apps").get_data(as_text=True)
    r = client.post(f"/account/apps/{app['id']}/revoke", data={"csrf_token": CSRF_RE.search(page).group(1)})
    assert r.status_code == 302
    assert client.get("/api/v1/customers", headers=bearer(token["access_token"])).status_code == 401
    assert refresh(client, app, token["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert f'data-client="{app["client_id"]}"' not in client.get("/account/apps").get_data(as_text=True)


def test_registration_validation_and_admin_screen(client, setup):
    h = setup["admin"]
    bad = client.post(
        "/api/v1/oauth-clients",
        json={
            "name": "X",
            "grant_type": "authorization_code",
            "redirect_uris": ["http://example.com/cb", "https://a.example/cb#frag"],
            "scopes": ["customers:read"],
        },
        headers=h,
    )
    assert bad.status_code == 422 and len(bad.get_json()["errors"]["redirect_uris"]) == 2
    listed = client.get("/api/v1/oauth-clients", headers=h).get_json()
    mine = next(c for c in listed if c["client_id"] == setup["app"]["client_id"])
    assert mine["grant_type"] == "authorization_code" and "client_secret" not in mine
    # an app's client-credentials use is refused: it acts only as approving users
    r = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(setup["app"]["client_id"], setup["app"]["client_secret"]),
    )
    assert r.status_code == 400 and r.get_json()["error"] == "unauthorized_client"


@settings(max_examples=60, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "ftp", "javascript"]),
    host=st.sampled_from(["localhost", "127.0.0.1", "[::1]", "app.example.com", "10.0.0.1", ""]),
    tail=st.sampled_from(["/cb", "/cb#x", "/*", "", "/cb?a=1"]),
)
def test_redirect_uri_rule(scheme, host, tail):
    uri = f"{scheme}://{host}{tail}"
    ok = not redirect_uri_problems([uri])
    loopback = host in ("localhost", "127.0.0.1", "[::1]")
    expected = (
        bool(host)
        and (scheme == "https" or (scheme == "http" and loopback))
        and "#" not in tail
        and "*" not in tail
    )
    assert ok == expected, uri


def test_confidential_apps_must_authenticate_and_secrets_codes_tokens_are_stored_hashed(client, setup):
    from crm_core.auth.models import OAuthClient, OAuthCode, OAuthRefreshToken

    app = setup["app"]
    code = redirected(consent(client, app))["code"]
    # a confidential app cannot pass as a public one (client_id only, no secret)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    r = client.post("/oauth/token", data={**data, "code_verifier": VERIFIER, "client_id": app["client_id"]})
    assert r.status_code == 401 and r.get_json()["error"] == "invalid_client"
    token = exchange(client, app, code).get_json()
    row = OAuthClient.get(OAuthClient.client_id == app["client_id"])
    assert app["client_secret"] not in row.secret_hash and len(row.secret_hash) == 64
    assert not OAuthCode.select().where(OAuthCode.code_hash == code).exists()
    assert (
        not OAuthRefreshToken.select().where(OAuthRefreshToken.token_hash == token["refresh_token"]).exists()
    )


def test_an_expired_code_is_refused(client, setup):
    import datetime as dt

    from crm_core.auth.models import OAuthCode

    app = setup["app"]
    code = redirected(consent(client, app))["code"]
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    OAuthCode.update(expires_at=past).execute()
    r = exchange(client, app, code)
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_grant"
    assert "expired" in r.get_json()["error_description"]


def test_server_metadata_and_audit(client, setup):
    from crm_core.audit.models import AuditEntry

    meta = client.get("/.well-known/oauth-authorization-server").get_json()
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert (
        meta["authorization_endpoint"].endswith("/authorize") and "customers:read" in meta["scopes_supported"]
    )
    assert meta["authorization_response_iss_parameter_supported"] is True
    redirected(consent(client, setup["app"]))
    redirected(consent(client, setup["app"], decision="deny"))
    decisions = [e for e in AuditEntry.select().where(AuditEntry.action == "oauth_consent")]
    assert [json.loads(e.after)["approved"] for e in decisions] == [True, False]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_racing_exchanges_of_one_code_cannot_both_win(app, client, setup):
    import threading

    code = redirected(consent(client, setup["app"]))["code"]
    barrier, answers = threading.Barrier(2), []

    def race():
        mine = app.test_client()
        barrier.wait()
        answers.append(exchange(mine, setup["app"], code))

    threads = [threading.Thread(target=race) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [200, 400]
    loser = next(r for r in answers if r.status_code == 400).get_json()
    assert loser["error"] == "invalid_grant" and "already used" in loser["error_description"]


def test_a_password_change_ends_the_apps_refresh_tokens(client, setup):
    from crm_core.auth import set_password
    from crm_core.auth.models import User

    app = setup["app"]
    token = exchange(client, app, redirected(consent(client, app))["code"]).get_json()
    set_password(User.get(User.username == "agent"), "An0ther-Passw0rd!")
    assert client.get("/api/v1/customers", headers=bearer(token["access_token"])).status_code == 401
    assert refresh(client, app, token["refresh_token"]).get_json()["error"] == "invalid_grant"


SCOPE_POOL = [
    "customers:read",
    "customers:write",
    "deals:read",
    "tickets:read",
    "tickets:*",
    "companies:read",
    "*",
]
GRID = [
    (r, a)
    for r in ("customers", "deals", "tickets", "companies")
    for a in ("read", "create", "update", "delete")
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_granted_scopes_never_allow_more_than_the_user(app, make_user):
    from hypothesis import HealthCheck

    from crm_core.auth import actor_for_user
    from crm_core.permissions import can
    from crm_core.web.oauth_consent import grantable_scopes

    user, _headers = make_user("svc", roles=("service",))
    actor = actor_for_user(user)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sets(st.sampled_from(SCOPE_POOL)))
    def check(asked):
        granted, dropped = grantable_scopes(actor, asked)
        assert set(granted) | set(dropped) == asked and not set(granted) & set(dropped)
        token = actor_for_user(user, client_id="crm_x", scopes=granted)
        for resource, action in GRID:
            if can(token, resource, action):
                assert can(actor, resource, action), (granted, resource, action)
        # a dropped scope names something the user may not do
        for scope in dropped:
            resource, _sep, action = scope.rpartition(":") if scope != "*" else ("*", ":", "*")
            wanted = (
                [a for r, a in GRID if r == resource or resource == "*"]
                if action in ("*", "write")
                else [action]
            )
            assert any(
                not can(actor, r, a) for r, a in GRID if (r == resource or resource == "*") and a in wanted
            )

    check()
