"""Rate limits that hold (issue 14): one budget per user or OAuth client across every endpoint,
tighter per-endpoint caps, login lockout per (username, client IP), counts shared between workers
through Redis, ``crm serve`` refusing a per-process store with several workers, 429 +
``Retry-After`` everywhere."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from crm_core.testing import TEST_PASSWORD

CRM = str(Path(sys.executable).parent / "crm")
REDIS_URL = os.environ.get("CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own in the Redis at REDIS_URL; its keys are deleted afterwards."""
    import redis

    try:
        conn = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        conn.ping()
    except Exception:
        if os.environ.get("CRM_TEST_REQUIRE_REDIS") == "1":
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    prefix = f"crmtest-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = list(conn.scan_iter(match=f"*{prefix}*", count=1000))
        if keys:
            conn.delete(*keys)
        conn.close()


def make_app(db_url, app_config, **settings):
    from crm_core.app import create_app

    return create_app({**app_config, "DATABASE_URL": db_url, **settings})


def login(client, username, password=TEST_PASSWORD, ip="10.9.0.1"):
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def bearer(r) -> dict:
    assert r.status_code == 200, r.get_data(as_text=True)
    return {"Authorization": f"Bearer {r.get_json()['access_token']}"}


def assert_429(r):
    assert r.status_code == 429, r.get_data(as_text=True)
    assert int(r.headers["Retry-After"]) >= 1
    assert r.get_json()["code"] == 429


def add_user(app, username, roles=("admin",)):
    from crm_core.auth import create_user

    with app.app_context():
        create_user(username, TEST_PASSWORD, roles=roles)


# -- the budget per user / client across endpoints, and the per-endpoint caps --------------------


def test_one_budget_per_user_across_endpoints_and_logins(db_url, app_config):
    app = make_app(db_url, app_config, RATELIMIT_DEFAULT="6/minute", RATELIMIT_ENDPOINT="100/minute")
    client = app.test_client()
    try:
        add_user(app, "budget")
        add_user(app, "bystander")
        headers = bearer(login(client, "budget"))
        paths = ["/api/v1/users/me", "/api/v1/customers", "/api/v1/auth/tokens"]
        codes = [client.get(paths[i % 3], headers=headers).status_code for i in range(6)]
        assert codes == [200] * 6  # six calls spread over three endpoints use up the budget...
        assert_429(client.get("/api/v1/deals", headers=headers))  # ...for any endpoint
        # a fresh login is the same user: no fresh quota (it was 600 more a minute before)
        fresh = bearer(login(client, "budget", ip="10.9.0.2"))
        assert_429(client.get("/api/v1/users/me", headers=fresh))
        # someone else is not affected
        other = bearer(login(client, "bystander"))
        assert client.get("/api/v1/users/me", headers=other).status_code == 200
    finally:
        app.extensions["crm"].db.close()


def test_per_endpoint_caps_are_tighter_than_the_budget(db_url, app_config):
    app = make_app(
        db_url,
        app_config,
        RATELIMIT_DEFAULT="100/minute",
        RATELIMIT_ENDPOINT="3/minute",
        RATELIMIT_HEAVY="1/minute",
    )
    client = app.test_client()
    try:
        add_user(app, "capped")
        headers = bearer(login(client, "capped"))
        codes = [client.get("/api/v1/users/me", headers=headers).status_code for _ in range(3)]
        assert codes == [200] * 3
        assert_429(client.get("/api/v1/users/me", headers=headers))
        assert client.get("/api/v1/customers", headers=headers).status_code == 200  # its own cap
        # an export is heavy: one a minute here
        assert client.get("/api/v1/customers/export", headers=headers).status_code == 200
        assert_429(client.get("/api/v1/customers/export", headers=headers))
        assert client.get("/api/v1/customers", headers=headers).status_code == 200
    finally:
        app.extensions["crm"].db.close()


# -- logins -------------------------------------------------------------------------------------


def test_lockout_is_per_username_and_ip_not_everywhere(db_url, app_config):
    app = make_app(
        db_url, app_config, RATELIMIT_LOGIN="1000/minute", LOGIN_MAX_FAILURES=5, LOGIN_LOCKOUT_SECONDS=1
    )
    client = app.test_client()
    try:
        add_user(app, "victim")
        attacker, office = "203.0.113.7", "10.9.1.1"
        codes = [login(client, "victim", "wrong", ip=attacker).status_code for _ in range(5)]
        assert codes == [401] * 5
        r = login(client, "victim", ip=attacker)  # the guesser is locked out, even with the password...
        assert_429(r)
        assert r.headers["Retry-After"] == "1", r.get_json()
        assert login(client, "victim", ip=office).status_code == 200  # ...the user is not
        # each further failure from that address doubles the lock
        time.sleep(1.1)
        assert login(client, "victim", "wrong", ip=attacker).status_code == 401
        r = login(client, "victim", ip=attacker)
        assert_429(r)
        assert r.headers["Retry-After"] == "2"
        # unknown usernames lock the same way (whether a name exists is not revealed)
        codes = [login(client, "nobody-here", "wrong", ip=attacker).status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]
    finally:
        app.extensions["crm"].db.close()


def test_failed_logins_per_ip_still_limited_across_usernames(db_url, app_config):
    app = make_app(db_url, app_config, RATELIMIT_LOGIN="4/minute")
    client = app.test_client()
    try:
        codes = [login(client, f"guess{i}", "wrong", ip="10.9.2.1").status_code for i in range(6)]
        assert codes[:4] == [401] * 4
        assert_429(login(client, "guess9", "wrong", ip="10.9.2.1"))
    finally:
        app.extensions["crm"].db.close()


@pytest.mark.parametrize("trusted, blocked_alone", [(1, False), (0, True)])
def test_behind_a_proxy_each_client_is_counted_apart(db_url, app_config, trusted, blocked_alone):
    """Behind nginx every request comes from the proxy's address: with TRUSTED_PROXIES the limit
    counts the client X-Forwarded-For names, so one guesser does not lock out everyone; without
    it the header is not believed (a client could name any address)."""
    app = make_app(db_url, app_config, RATELIMIT_LOGIN="3/minute", TRUSTED_PROXIES=trusted)
    client = app.test_client()

    def via_proxy(client_ip, username, password="wrong"):
        return client.post(
            "/api/v1/auth/token",
            json={"username": username, "password": password},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
            headers={"X-Forwarded-For": client_ip},
        )

    try:
        for i in range(4):
            via_proxy("203.0.113.7", f"guess{i}")
        other = via_proxy("198.51.100.20", "someone")
        assert (other.status_code == 429) is blocked_alone, other.get_data(as_text=True)
    finally:
        app.extensions["crm"].db.close()


def test_trusted_proxies_is_bounded(db_url, app_config):
    from crm_core.config import ConfigError

    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        make_app(db_url, app_config, TRUSTED_PROXIES=99)


# -- a shared store ------------------------------------------------------------------------------


def test_redis_store_counts_logins_and_budgets_across_workers(db_url, app_config, redis_prefix):
    """Two app instances (two workers) on one Redis: failed logins per IP and a user's budget
    are counted together; a fresh login on the other worker does not reset the budget."""
    settings = dict(
        RATELIMIT_STORAGE_URL=REDIS_URL,
        RATELIMIT_KEY_PREFIX=redis_prefix,
        RATELIMIT_LOGIN="4/minute",
        RATELIMIT_DEFAULT="5/minute",
    )
    first, second = make_app(db_url, app_config, **settings), make_app(db_url, app_config, **settings)
    workers = [first.test_client(), second.test_client()]
    try:
        add_user(first, "shared")
        codes = [login(workers[i % 2], f"x{i}", "wrong", ip="10.9.3.1").status_code for i in range(4)]
        assert codes == [401] * 4
        assert_429(login(workers[0], "x9", "wrong", ip="10.9.3.1"))
        assert_429(login(workers[1], "x9", "wrong", ip="10.9.3.1"))
        codes = []
        for i in range(5):
            headers = bearer(login(workers[i % 2], "shared", ip=f"10.9.4.{i}"))  # a fresh login each time
            codes.append(workers[(i + 1) % 2].get("/api/v1/users/me", headers=headers).status_code)
        assert codes == [200] * 5
        assert_429(workers[0].get("/api/v1/customers", headers=headers))
        assert_429(workers[1].get("/api/v1/customers", headers=headers))
    finally:
        for app in (first, second):
            app.extensions["crm"].db.close()


# -- crm serve ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_INSTANCE_PATH=str(tmp_path), CRM_SECRET_KEY="ratelimit-serve-test")
    return env


@pytest.mark.parametrize("storage", [None, "memory://"])
def test_serve_refuses_a_per_process_store_with_several_workers(serve_env, storage):
    if storage:
        serve_env["CRM_RATELIMIT_STORAGE_URL"] = storage
    r = subprocess.run(
        [CRM, "serve", "--workers", "2", "--bind", f"127.0.0.1:{_free_port()}"],
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert "CRM_RATELIMIT_STORAGE_URL" in r.stderr and "refusing to start" in r.stderr, r.stderr


@pytest.mark.slow
def test_serve_with_redis_limits_failed_logins_across_workers(serve_env, redis_prefix):
    """The regression through HTTP: 4 gunicorn workers, limit 10 failed logins a minute per IP:
    the 11th is refused whichever worker answers (before: each worker let 10 through)."""
    serve_env.update(
        CRM_RATELIMIT_STORAGE_URL=REDIS_URL,
        CRM_RATELIMIT_KEY_PREFIX=redis_prefix,
        CRM_RATELIMIT_LOGIN="10/minute",
    )
    subprocess.run([CRM, "init"], env=serve_env, check=True, capture_output=True, timeout=180)
    port = _free_port()
    proc = subprocess.Popen(
        [CRM, "serve", "--workers", "4", "--bind", f"127.0.0.1:{port}"],
        env=serve_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "crm serve did not come up"
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2).close()
                break
            except OSError:
                time.sleep(0.3)

        def attempt(i):
            body = json.dumps({"username": f"nobody{i}", "password": "wrong"}).encode()
            req = urllib.request.Request(
                f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, r.headers
            except urllib.error.HTTPError as e:
                return e.code, e.headers

        results = [attempt(i) for i in range(14)]
        codes = [code for code, _ in results]
        assert codes[:10] == [401] * 10 and codes[10:] == [429] * 4, codes
        assert all(int(h["Retry-After"]) >= 1 for _, h in results[10:])
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)
