"""The workbench's generic CSV/XLSX export (``/records/<resource>/export.<fmt>``, collections
other than customers) has each column once: ``id`` first, then the fields the viewer may see."""

from __future__ import annotations

import csv
import io

from crm_core.browser_testing import web_login


def test_the_generic_export_names_each_column_once(app, make_user):
    _admin, headers = make_user("boss", roles=("admin",))
    api = app.test_client()
    r = api.post("/api/v1/companies", json={"name": "Acme Export"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    browser = app.test_client()
    web_login(browser, "boss")
    r = browser.get("/records/companies/export.csv")
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    header = rows[0]
    assert header[0] == "id" and header.count("id") == 1, header
    assert len(header) == len(set(header)), header
    (row,) = [row for row in rows[1:] if "Acme Export" in row]
    assert row[0] == str(r_id(api, headers)) and len(row) == len(header)


def r_id(api, headers) -> int:
    (company,) = api.get("/api/v1/companies?q=Acme Export", headers=headers).get_json()
    return company["id"]
