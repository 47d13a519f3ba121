"""A third-party app completes the OAuth2 authorization code + PKCE flow in real headless
Chromium: an administrator registers it on the workbench screen (the secret shown once), a user
is sent to /authorize, logs in, sees the consent screen (English and Chinese) and approves or
denies; the app's tiny local redirect receiver gets the code and state, exchanges the code with
its verifier, and calling the API with the token it sees exactly what the user sees (same rows,
same hidden fields), limited to the scopes granted.

Screenshots go to ``CRM_TEST_SCREENSHOT_DIR`` (default ``test-artifacts/screenshots/``):
``oauth-consent-<locale>.png``, ``oauth-admin-apps.png``, ``oauth-authorized-apps.png``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from crm_core.browser_testing import SCREENSHOTS as SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "Browser-Passw0rd!"


class Receiver:
    """The app's redirect endpoint: a one-route HTTP server on a free loopback port that keeps
    the query of each redirect it receives."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (http.server's name)
                if urlsplit(self.path).path != "/callback":  # the browser's favicon request
                    self.send_error(404)
                    return
                received.append({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
                body = b"<!doctype html><title>Report Builder</title><p id=received>received</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.thread.join(timeout=10)


def _seed(app) -> dict:
    """An admin, a department with an analyst (customers of the department, phone hidden, no
    deals) and customers inside and outside it."""
    from crm_core.auth import create_user, issue_token

    with app.app_context():
        admin = create_user("admin", PASSWORD, roles=["admin"], name="Admin")
        raw, _ = issue_token(admin)
    api = app.test_client()
    h = {"Authorization": f"Bearer {raw}"}

    def post(path, body):
        r = api.post(path, json=body, headers=h)
        assert r.status_code == 201, (path, r.get_json())
        return r.get_json()

    dept = post("/api/v1/departments", {"name": "East"})
    post(
        "/api/v1/roles",
        {
            "name": "analyst",
            "grants": [
                {"resource": "customers", "action": "read", "scope": "department"},
                {"resource": "tickets", "action": "read", "scope": "department"},
            ],
            "field_rules": [{"resource": "customers", "field": "phone", "rule": "hidden"}],
        },
    )
    post(
        "/api/v1/users",
        {
            "username": "ana",
            "name": "Ana Lyst",
            "password": PASSWORD,
            "roles": ["analyst"],
            "department_id": dept["id"],
        },
    )
    inside = post(
        "/api/v1/customers",
        {"name": "东区客户 East Ltd", "phone": "+8613900000001", "department_id": dept["id"]},
    )
    outside = post("/api/v1/customers", {"name": "Other Branch Ltd", "phone": "+8613900000002"})
    with app.app_context():
        from crm_core.auth.models import User

        ana_raw, _ = issue_token(User.get(User.username == "ana"))
    return {
        "inside": inside["id"],
        "outside": outside["id"],
        "ana_headers": {"Authorization": f"Bearer {ana_raw}"},
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from crm_core.browser_testing import chromium_browser, live_server

    receiver = Receiver()
    with live_server(tmp_path_factory.mktemp("oauth-browser"), seed=_seed) as server:
        yield {**server, "receiver": receiver, "browser": chromium_browser()}
    receiver.close()


def _call(url, data=None, headers=None, auth=None):
    """An HTTP call as the app makes it (no browser, no cookies): ``(status, json)``."""
    body = urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}))
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _context(world, locale):
    context = world["browser"].new_context(viewport={"width": 1100, "height": 800}, locale=locale)
    context.set_default_timeout(15000)
    return context, context.new_page()


@pytest.fixture(scope="module")
def registered(world):
    """The admin registers the app on the workbench screen; ``(client_id, secret)``."""
    base = world["url"]
    context, page = _context(world, "en-US")
    try:
        page.goto(base + "/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        page.goto(base + "/admin/")
        page.click("text=Third-party apps")
        page.wait_for_url(base + "/admin/oauth-apps")
        page.fill("#register-app input[name=name]", "Report Builder")
        page.fill("#register-app textarea[name=redirect_uris]", world["receiver"].url)
        page.fill("#register-app input[name=scopes]", "customers:read deals:read tickets:read")
        page.click("#register-app button[type=submit]")
        client_id = page.locator("#new-client-id").inner_text()
        secret = page.locator("#new-client-secret").inner_text()
        _shot(page, "oauth-admin-apps")
        page.reload()  # the secret is shown once only
        assert secret not in page.content() and client_id in page.content()
        return client_id, secret
    finally:
        context.close()


def _authorize_url(world, client_id, verifier, state, scope="customers:read deals:read"):
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": world["receiver"].url,
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return world["url"] + "/authorize?" + urlencode(query)


def _login_then_consent(world, page, url, locale):
    page.goto(url)  # not logged in: the login page first, then back to the consent screen
    page.wait_for_url(re.compile(r"/login\?next=%2Fauthorize|/login\?next=/authorize"))
    page.fill("input[name=username]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#oauth-consent")
    assert page.locator("#granted-scopes li[data-scope='customers:read']").count() == 1
    assert page.locator("#dropped-scopes li[data-scope='deals:read']").count() == 1
    _shot(page, f"oauth-consent-{locale}")


TEXTS = {
    "en-US": {"title": "Report Builder wants to use your CRM account", "approve": "Approve"},
    "zh-CN": {"title": "Report Builder 想使用你的 CRM 帐户", "approve": "同意"},
}


def test_app_completes_code_flow_with_pkce_and_sees_what_the_user_sees(world, registered):
    client_id, secret = registered
    base, receiver = world["url"], world["receiver"]
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(12)
    context, page = _context(world, "en-US")
    try:
        _login_then_consent(world, page, _authorize_url(world, client_id, verifier, state), "en-US")
        assert TEXTS["en-US"]["title"] in page.inner_text("h1")
        page.click("#approve")
        page.wait_for_selector("#received")
        answer = receiver.received[-1]
        assert answer["state"] == state and answer["iss"] == base and answer["code"]
        token_url = base + "/oauth/token"
        form = {"grant_type": "authorization_code", "code": answer["code"], "redirect_uri": receiver.url}
        status, body = _call(token_url, {**form, "code_verifier": "x" * 50}, auth=(client_id, secret))
        assert status == 400 and body["error"] == "invalid_grant"
        status, token = _call(token_url, {**form, "code_verifier": verifier}, auth=(client_id, secret))
        assert status == 200 and token["scope"] == "customers:read", token
        h = {"Authorization": f"Bearer {token['access_token']}"}
        status, as_app = _call(base + "/api/v1/customers", headers=h)
        _, as_user = _call(base + "/api/v1/customers", headers=world["ana_headers"])
        assert status == 200 and as_app == as_user
        assert {c["id"] for c in as_app} == {world["inside"]} and all("phone" not in c for c in as_app)
        assert _call(base + f"/api/v1/customers/{world['outside']}", headers=h)[0] == 404
        # the user reads tickets, but did not grant them; deals were dropped
        assert _call(base + "/api/v1/tickets", headers=h)[0] == 403
        assert _call(base + "/api/v1/tickets", headers=world["ana_headers"])[0] == 200
        assert _call(base + "/api/v1/deals", headers=h)[0] == 403
        # the user sees the app among their authorized apps and withdraws it
        page.goto(base + "/account/apps")
        row = page.locator(f"tr[data-client='{client_id}']")
        assert "Report Builder" in row.inner_text()
        _shot(page, "oauth-authorized-apps")
        row.locator("button").click()
        page.wait_for_url(re.compile(r"/account/apps\?revoked="))
        assert page.locator(f"tr[data-client='{client_id}']").count() == 0
        assert _call(base + "/api/v1/customers", headers=h)[0] == 401
        refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
        assert _call(token_url, refresh, auth=(client_id, secret))[1]["error"] == "invalid_grant"
    finally:
        context.close()


def test_consent_screen_in_chinese_and_deny(world, registered):
    client_id, _secret = registered
    receiver = world["receiver"]
    context, page = _context(world, "zh-CN")
    try:
        _login_then_consent(
            world, page, _authorize_url(world, client_id, secrets.token_urlsafe(48), "zh-state"), "zh-CN"
        )
        assert TEXTS["zh-CN"]["title"] in page.inner_text("h1")
        assert page.inner_text("#approve") == TEXTS["zh-CN"]["approve"]
        page.click("#deny")
        page.wait_for_selector("#received")
        answer = receiver.received[-1]
        assert answer["error"] == "access_denied" and answer["state"] == "zh-state" and "code" not in answer
    finally:
        context.close()
