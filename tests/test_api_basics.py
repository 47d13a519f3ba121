"""The API skeleton: health, OpenAPI, offline docs, the JSON error format, request ids."""

import re

import pytest


def test_health_reports_database(client):
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json["database"] == "ok"


def test_openapi_document(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.json["openapi"].startswith("3")
    assert "/api/v1/health" in r.json["paths"]


def test_docs_load_nothing_from_the_internet(client):
    r = client.get("/api/v1/docs")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert not re.findall(r'(?:src|href)=["\'](https?://[^"\']+)', html)
    for asset in re.findall(r'(?:src|href)=["\'](/static/[^"\']+)', html):
        assert client.get(asset).status_code == 200, asset


@pytest.mark.parametrize(
    "method, path, kwargs, code",
    [
        ("get", "/api/v1/no-such-route", {}, 404),
        ("delete", "/api/v1/health", {}, 405),
        ("post", "/api/v1/auth/token", {"data": "{not json", "content_type": "application/json"}, 400),
        ("post", "/api/v1/auth/token", {"json": {"username": "x"}}, 422),
        ("post", "/api/v1/auth/token", {"json": {"username": "x", "password": "wrong-pass"}}, 401),
        ("get", "/api/v1/plugins", {}, 401),
    ],
)
def test_errors_are_json(client, method, path, kwargs, code):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == code
    assert r.is_json
    body = r.json
    assert body["code"] == code and body["status"] and body["message"]
    assert isinstance(body["errors"], dict)


def test_validation_error_names_the_field(client):
    r = client.post("/api/v1/auth/token", json={"username": "x"})
    assert r.json["errors"] == {"password": ["Missing data for required field."]}


def test_oversized_body_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    r = client.post("/api/v1/auth/token", data="x" * 5000, content_type="application/json")
    assert r.status_code == 413
    assert r.json["code"] == 413


def test_request_id_is_echoed_or_generated(client):
    assert len(client.get("/api/v1/health").headers["X-Request-ID"]) == 32
    r = client.get("/api/v1/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"


def test_login_and_plugin_listing(client, make_user):
    make_user("alice", roles=("admin",))
    r = client.post("/api/v1/auth/token", json={"username": "alice", "password": "Test-Passw0rd!"})
    assert r.status_code == 200 and r.json["token_type"] == "Bearer" and r.json["expires_in"] > 0
    headers = {"Authorization": f"Bearer {r.json['access_token']}"}
    plugins = {p["name"]: p for p in client.get("/api/v1/plugins", headers=headers).json}
    assert plugins["core.auth"]["enabled"] and "crm_blueprints" in plugins["core.api"]["hooks"]


def test_logout_revokes_the_token(client, make_user):
    _, headers = make_user("bob")
    assert client.get("/api/v1/plugins", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/plugins", headers=headers).status_code == 401


def test_unreachable_database_is_503_not_500(app_config):
    from crm_core.app import create_app

    app = create_app({**app_config, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    client = app.test_client()
    health = client.get("/api/v1/health")
    assert health.status_code == 503 and health.json["database"] == "unreachable"
    r = client.post("/api/v1/auth/token", json={"username": "a", "password": "b"})
    assert r.status_code == 503 and r.json["code"] == 503 and r.headers["Retry-After"]


def test_openapi_components_have_distinct_names(db_url, app_config):
    """Every plugin's schemas (including PATCH variants) get their own component name."""
    import warnings

    from crm_core.app import create_app

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = create_app({**app_config, "DATABASE_URL": db_url})
    clashes = [str(w.message) for w in caught if "Multiple schemas resolved" in str(w.message)]
    assert clashes == []
    schemas = app.test_client().get("/api/v1/openapi.json").json["components"]["schemas"]
    assert not any(name[-1].isdigit() for name in schemas), sorted(schemas)


def test_logs_carry_the_request_id(app_config, caplog):
    from crm_core.app import create_app

    app = create_app({**app_config, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    with caplog.at_level("ERROR", logger="crm_core"):
        app.test_client().post(
            "/api/v1/auth/token",
            json={"username": "a", "password": "b"},
            headers={"X-Request-ID": "trace-42"},
        )
    records = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert records and all(r.request_id == "trace-42" for r in records)
    assert "trace-42" in records[0].getMessage()
