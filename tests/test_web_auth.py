"""Workbench login, logout, password change, CSRF and languages (Flask test client)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core.auth.models import User
from crm_core.browser_testing import csrf_from, post_form, web_login
from crm_core.testing import TEST_PASSWORD


def test_anonymous_root_redirects_to_login(client):
    r = client.get("/")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/login")
    html = client.get("/login").get_data(as_text=True)
    assert 'name="username"' in html and 'name="password"' in html
    assert re.search(r'name="csrf_token" value="[^"]+"', html)
    assert not re.findall(r'(?:src|href)=["\'](https?://[^"\']+)', html), "no external assets"


def test_login_then_dashboard_then_logout(client, make_user):
    make_user("alice", roles=("admin",))
    r = web_login(client, "alice")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200 and "alice" in page.get_data(as_text=True)
    r = post_form(client, "/logout", {}, page="/")
    assert r.status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_with_message(client, make_user):
    make_user("bob", roles=("admin",))
    r = web_login(client, "bob", "wrong-password-1")
    assert r.status_code == 401
    assert "Wrong username or password." in r.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_next_is_kept_but_never_leaves_the_site(client, make_user):
    make_user("carol", roles=("admin",))
    token = csrf_from(client, "/login")
    data = {"username": "carol", "password": TEST_PASSWORD, "csrf_token": token}
    r = client.post("/login?next=//evil.example.com/x", data=data)
    assert r.headers["Location"] == "/"
    post_form(client, "/logout", {}, page="/")
    token = csrf_from(client, "/login")
    r = client.post("/login?next=/account/password", data={**data, "csrf_token": token})
    assert r.headers["Location"] == "/account/password"


@pytest.mark.parametrize(
    "path,data",
    [
        ("/login", {"username": "x", "password": "y"}),
        ("/logout", {}),
        ("/language", {"language": "en"}),
        ("/account/password", {"current_password": "a", "new_password": "b", "confirm_password": "b"}),
    ],
)
def test_every_account_post_needs_csrf(client, make_user, path, data):
    make_user("dave", roles=("admin",))
    web_login(client, "dave")
    r = client.post(path, data=data)
    assert r.status_code == 400
    r = client.post(path, data={**data, "csrf_token": "forged"})
    assert r.status_code == 400


def test_api_posts_need_no_csrf(client, make_user):
    make_user("erin", roles=("admin",))
    r = client.post("/api/v1/auth/token", json={"username": "erin", "password": TEST_PASSWORD})
    assert r.status_code == 200


@pytest.mark.slow  # several argon2 hashes: about 7 s on a loaded machine
def test_change_password_checks_and_logs_out_other_sessions(app, client, make_user):
    user, headers = make_user("frank", roles=("admin",))
    other = app.test_client()
    web_login(other, "frank")
    assert other.get("/").status_code == 200
    web_login(client, "frank")
    r = post_form(
        client,
        "/account/password",
        {"current_password": "nope", "new_password": "short", "confirm_password": "short"},
    )
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "The current password is not correct." in html and "at least 8" in html
    new = "N3w-Password!"
    r = post_form(
        client,
        "/account/password",
        {"current_password": TEST_PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert r.status_code == 200
    assert client.get("/").status_code == 200, "the session that changed it stays logged in"
    assert other.get("/").status_code == 302, "other sessions are logged out"
    assert client.get("/api/v1/auth/token").status_code in (404, 405)
    assert client.post("/api/v1/auth/token", json={"username": "frank", "password": new}).status_code == 200


@pytest.mark.parametrize(
    "accept,expected",
    [("zh-CN,zh;q=0.9", "登录"), ("zh", "登录"), ("en-US,en;q=0.8", "Log in"), ("fr", "Log in")],
)
def test_browser_language_picks_the_catalogue(client, accept, expected):
    html = client.get("/login", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert f"<title>{expected}" in html


def test_language_switch_is_saved_on_the_user(app, client, make_user):
    user, _ = make_user("grace", roles=("admin",))
    web_login(client, "grace")
    r = post_form(client, "/language", {"language": "zh_CN", "next": "/"}, page="/")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert User.get_by_id(user.id).language == "zh_CN"
    # a new browser that asks for English still gets the user's choice after logging in
    other = app.test_client()
    token = csrf_from(other, "/login")
    other.post(
        "/login",
        data={"username": "grace", "password": TEST_PASSWORD, "csrf_token": token},
        headers={"Accept-Language": "en"},
    )
    html = other.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "仪表盘" in html
    r = post_form(client, "/language", {"language": "xx"}, page="/")
    assert r.status_code == 400


def test_anonymous_language_switch_uses_the_session(client):
    r = post_form(client, "/language", {"language": "zh_CN", "next": "/login"}, page="/login")
    assert r.headers["Location"] == "/login"
    assert "<title>登录" in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


@given(st.text(max_size=40))
def test_safe_next_never_leaves_the_site(target):
    from urllib.parse import urlsplit

    from crm_core.web.session import safe_next

    for candidate in (target, "/" + target, "//" + target, "/\\" + target):
        result = safe_next(candidate)
        if result is not None:
            parts = urlsplit(result)
            assert not parts.scheme and not parts.netloc
            assert result.startswith("/") and not result.startswith("//") and "\\" not in result


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "/\\evil.example", "https://evil.example/", "/\t/evil.example", "javascript:x"],
)
def test_safe_next_refuses_known_tricks(target):
    from crm_core.web.session import safe_next

    assert safe_next(target) is None


def test_pages_refuse_framing(client):
    r = client.get("/login")
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_unrouted_posts_keep_their_404_and_405(client):
    assert client.post("/no-such-page").status_code == 404
    assert client.post("/account/nothing").status_code == 404
    assert client.delete("/login").status_code == 405


def test_web_login_failures_hit_the_same_per_ip_limit_as_the_api(client, make_user):
    from crm_core.browser_testing import web_login

    make_user("victim")
    codes = [web_login(client, "victim", "wrong-password").status_code for _ in range(30)]
    assert 429 in codes
    assert 200 not in codes[codes.index(429) :]
