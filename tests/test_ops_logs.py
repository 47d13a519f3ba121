"""Structured logs: LOG_FORMAT=json writes one JSON object a line, one line per request (route
template, method, status, duration, actor, request id), and SQL slower than SLOW_QUERY_MS is
logged with its text but never its values."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager

import pytest

from crm_core import create_app
from crm_core.app import RequestIdFilter
from crm_core.config import ConfigError
from crm_core.db import database
from crm_core.testing import requests_in_their_own_context, user_with_token

PHONE = "13800138000"


@contextmanager
def captured_lines():
    """What the CRM's log handler writes, as a list of lines (filled when the block ends)."""
    handler = next(
        h
        for h in logging.getLogger("crm_core").handlers
        if h.filters and isinstance(h.filters[0], RequestIdFilter)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    lines: list[str] = []
    try:
        yield lines
    finally:
        handler.setStream(previous)
        lines.extend(stream.getvalue().splitlines())


@pytest.fixture
def json_app(db_url, tmp_path):
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "x",
        "DATABASE_URL": db_url,
        "LOG_FORMAT": "json",
        "SLOW_QUERY_MS": 5,
    }
    app = create_app(config)
    requests_in_their_own_context(app)
    with app.app_context():
        yield app
    app.extensions["crm"].db.close()
    create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})  # text again


def test_one_json_line_per_request_without_paths_or_query_values(json_app):
    user, headers = user_with_token("log-reader")
    client = json_app.test_client()
    with captured_lines() as lines:
        created = client.post("/api/v1/customers", json={"name": "Log Person"}, headers=headers)
        customer = created.json["id"]
        found = client.get(
            f"/api/v1/customers/{customer}?phone={PHONE}", headers={**headers, "X-Request-ID": "req-42"}
        )
        anonymous = client.get(f"/api/v1/customers?q={PHONE}")
    assert (created.status_code, found.status_code, anonymous.status_code) == (201, 200, 401)
    records = [json.loads(line) for line in lines]  # every line is JSON
    requests = [r for r in records if r["logger"] == "crm_core.request"]
    assert [(r["method"], r["route"], r["status"]) for r in requests] == [
        ("POST", "/api/v1/customers", 201),
        ("GET", "/api/v1/customers/<int:record_id>", 200),
        ("GET", "/api/v1/customers", 401),
    ]
    post, get, refused = requests
    assert post["actor_id"] == user.id and get["actor_id"] == user.id and "actor_id" not in refused
    assert get["request_id"] == "req-42" and found.headers["X-Request-ID"] == "req-42"
    assert all(
        r["duration_ms"] >= 0 and r["level"] == "INFO" and r["time"].endswith("+00:00") for r in requests
    )
    text = "\n".join(lines)
    assert PHONE not in text and "phone=" not in text and f"/customers/{customer}" not in text


def test_slow_statements_are_logged_without_their_values(json_app):
    # a statement that takes a while on either database, with values that must not be logged
    sql = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %s) "
        "SELECT count(*) FROM c WHERE %s <> ''"
    )
    sql = sql.replace("%s", database.param)  # "?" on SQLite
    with captured_lines() as lines:
        database.execute_sql(sql, [300000, PHONE])
        database.execute_sql("SELECT 1")
    slow = [json.loads(line) for line in lines]
    slow = [r for r in slow if r["logger"] == "crm_core.sql.slow"]
    assert len(slow) == 1, slow
    assert slow[0]["level"] == "WARNING" and slow[0]["duration_ms"] >= 5
    assert slow[0]["statement"].startswith("WITH RECURSIVE c(x)")
    assert PHONE not in "\n".join(lines) and "300000" not in "\n".join(lines)


def test_text_is_the_default_and_an_unknown_format_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", "LOG_FORMAT": "xml"})
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    requests_in_their_own_context(app)
    with captured_lines() as lines:
        assert app.test_client().get(f"/api/v1/health?phone={PHONE}").status_code == 200
    line = next(line for line in lines if "crm_core.request" in line)
    assert "INFO" in line and "GET /api/v1/health 200" in line and PHONE not in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
