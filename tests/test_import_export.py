"""Customer import (CSV in UTF-8/BOM/GBK, XLSX; Chinese headers; bad rows; both modes) and export
(CSV/XLSX, filters, hidden fields, the round trip), over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import openpyxl
import pytest

from crm_core.testing import follow_task

API = "/api/v1"

CHINESE_CSV = "姓名,手机,邮箱,性别,标签,生日\n张三,138 0013 8000,Zhang@Example.com,男,vip，kol,1990/05/01\n李四,13900139000,,女,,\n"


def upload(client, headers, data: bytes, filename="customers.csv", mode=None):
    form = {"file": (io.BytesIO(data), filename)}
    if mode:
        form["mode"] = mode
    r = client.post(f"{API}/customers/import", data=form, headers=headers, content_type="multipart/form-data")
    # imports are tasks (202 + Location); the task's result is the report the request used to
    # answer, a failed task's error is the error it answered (400, 413, 422 with the report)
    return follow_task(client, r, headers)


def listed(client, headers, query=""):
    return client.get(f"{API}/customers?sort=name&page_size=200{query}", headers=headers).get_json()


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: text.encode("utf-8"), id="utf8"),
        pytest.param(lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"), id="utf8-bom"),
        pytest.param(lambda text: text.encode("gbk"), id="gbk"),
    ],
)
def test_import_chinese_csv(client, admin_headers, encode):
    r = upload(client, admin_headers, encode(CHINESE_CSV))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["imported"] == 2 and r.get_json()["failed"] == 0
    rows = {c["name"]: c for c in listed(client, admin_headers)}
    assert rows["张三"]["phone"] == "+8613800138000" and rows["张三"]["email"] == "zhang@example.com"
    assert rows["张三"]["gender"] == "male" and rows["张三"]["tags"] == ["kol", "vip"]
    assert rows["张三"]["birthday"] == "1990-05-01"
    assert rows["李四"]["gender"] == "female" and rows["李四"]["email"] is None


def test_import_xlsx_with_numeric_phones(client, admin_headers):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "手机号码", "来源渠道", "Unmapped"])
    sheet.append(["王五", 13700137000, "kol", "x"])
    sheet.append(["赵六", None, "store", ""])
    buf = io.BytesIO()
    book.save(buf)
    r = upload(client, admin_headers, buf.getvalue(), "people.xlsx")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["imported"] == 2 and r.get_json()["ignored_columns"] == ["Unmapped"]
    rows = {c["name"]: c for c in listed(client, admin_headers)}
    assert rows["王五"]["phone"] == "+8613700137000" and rows["王五"]["source_channel"] == "kol"


BAD_CSV = (
    "name,phone,email\n"
    "good one,13800138000,good@example.com\n"
    ",13800138001,\n"  # row 3: no name
    "bad phone,12345,\n"  # row 4
    "bad email,,nope\n"  # row 5
    "dup in file,13800138000,\n"  # row 6: same phone as row 2
    "dup in db,,taken@example.com\n"  # row 7
    "good two,,two@example.com\n"
)


def test_all_or_nothing_reports_every_bad_row_and_imports_nothing(client, admin_headers):
    existing = client.post(
        f"{API}/customers", json={"name": "existing", "email": "taken@example.com"}, headers=admin_headers
    )
    r = upload(client, admin_headers, BAD_CSV.encode(), mode="all_or_nothing")
    assert r.status_code == 422
    body = r.get_json()
    report = body["report"]
    assert [e["row"] for e in report["errors"]] == [3, 4, 5, 6, 7]
    assert "name" in report["errors"][0]["errors"] and "phone" in report["errors"][1]["errors"]
    assert "email" in report["errors"][2]["errors"] and "row 2" in report["errors"][3]["errors"]["phone"][0]
    assert str(existing.get_json()["id"]) in report["errors"][4]["errors"]["email"][0]
    assert set(body["errors"]) == {"row 3", "row 4", "row 5", "row 6", "row 7"}
    assert [c["name"] for c in listed(client, admin_headers)] == ["existing"]


def test_valid_rows_only(client, admin_headers):
    client.post(
        f"{API}/customers", json={"name": "existing", "email": "taken@example.com"}, headers=admin_headers
    )
    r = upload(client, admin_headers, BAD_CSV.encode(), mode="valid_only")
    assert r.status_code == 200
    report = r.get_json()
    assert report["total_rows"] == 7 and report["imported"] == 2 and report["failed"] == 5
    assert [c["name"] for c in listed(client, admin_headers)] == ["existing", "good one", "good two"]


def test_import_is_audited_per_row(app, client, admin_headers):
    from crm_core import hookimpl

    seen = []

    class Spy:
        @hookimpl
        def crm_record_written(self, change):
            seen.append(change)

    pm = app.extensions["crm"].plugins.pm
    pm.register(Spy(), name="spy_import")
    try:
        upload(client, admin_headers, CHINESE_CSV.encode())
    finally:
        pm.unregister(name="spy_import")
    assert [c.action for c in seen] == ["create", "create"]
    assert {c.after["name"] for c in seen} == {"张三", "李四"} and all(c.record_id for c in seen)


@pytest.mark.parametrize(
    "data, filename, mode, status",
    [
        (b"", "x.csv", None, 400),
        (b"phone\n13800138000\n", "x.csv", None, 400),  # no name column
        (b"PK\x03\x04garbage", "x.xlsx", None, 400),
        (b"name\nx\n", "x.csv", "sometimes", 422),
    ],
)
def test_import_bad_requests(client, admin_headers, data, filename, mode, status):
    assert upload(client, admin_headers, data, filename, mode).status_code == status


def test_import_without_file_and_too_many_rows(client, admin_headers, monkeypatch):
    r = client.post(
        f"{API}/customers/import", data={}, headers=admin_headers, content_type="multipart/form-data"
    )
    assert r.status_code == 400 and "file" in r.get_json()["errors"]
    from crm_core.transfer import customers as transfer

    monkeypatch.setattr(transfer, "MAX_ROWS", 3)
    rows = "name\n" + "".join(f"n{i}\n" for i in range(4))
    assert upload(client, admin_headers, rows.encode()).status_code == 413


def test_import_needs_create_permission(client, make_user):
    _, ro = make_user("ro", roles=("readonly",))
    assert upload(client, ro, CHINESE_CSV.encode()).status_code == 403


# --- export ---------------------------------------------------------------------------------------


def seed_for_export(client, headers):
    r = client.post(f"{API}/fields/customers", json={"name": "credit_score", "type": "int"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    people = [
        {
            "name": "张三",
            "phone": "13800138000",
            "email": "z@example.com",
            "gender": "male",
            "birthday": "1990-05-01",
            "tags": ["vip", "kol"],
            "source_channel": "kol",
            "custom": {"credit_score": 700},
        },
        {
            "name": 'Li, "Quote" Si',
            "email": "li@example.com",
            "lifecycle_stage": "customer",
            "tags": [],
            "custom": {},
        },
        {
            "name": "王五",
            "phone": "+1 650 253 0000",
            "source_channel": "store",
            "custom": {"credit_score": 300},
        },
    ]
    for p in people:
        assert client.post(f"{API}/customers", json=p, headers=headers).status_code == 201


COMPARED = (
    "name",
    "phone",
    "email",
    "gender",
    "birthday",
    "source_channel",
    "lifecycle_stage",
    "owner_id",
    "department_id",
    "tags",
    "custom",
)


def snapshot(client, headers):
    return sorted(tuple(str(c.get(k)) for k in COMPARED) for c in listed(client, headers))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_round_trip(client, admin_headers, fmt):
    from crm_core.entities.models import Customer, CustomerTag

    seed_for_export(client, admin_headers)
    before = snapshot(client, admin_headers)
    r = client.get(f"{API}/customers/export?format={fmt}", headers=admin_headers)
    assert r.status_code == 200 and f".{fmt}" in r.headers["Content-Disposition"]
    if fmt == "csv":
        assert r.data.startswith(b"\xef\xbb\xbf")
    CustomerTag.delete().execute()
    Customer.delete().execute()
    assert listed(client, admin_headers) == []
    imported = upload(client, admin_headers, r.data, f"export.{fmt}")
    assert imported.status_code == 200, imported.get_json()
    assert imported.get_json()["imported"] == 3 and imported.get_json()["ignored_columns"] == []
    assert snapshot(client, admin_headers) == before


def test_export_uses_list_filters_scope_and_hides_fields(client, admin_headers, make_user):
    from crm_core.auth.models import Role
    from crm_core.permissions.models import FieldRule, Grant

    seed_for_export(client, admin_headers)
    r = client.get(f"{API}/customers/export?format=csv&source_channel=kol", headers=admin_headers)
    lines = r.data.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 2 and "张三" in lines[1]
    assert client.get(f"{API}/customers/export?format=pdf", headers=admin_headers).status_code == 400
    assert client.get(f"{API}/customers/export?nope=1", headers=admin_headers).status_code == 400

    _, svc = make_user("svc", roles=("service",))
    assert client.get(f"{API}/customers/export", headers=svc).status_code == 403  # no export grant
    # (grants are cached per app context, so set them up before the user's first request)
    role = Role.get(Role.name == "readonly")
    Grant.create(role=role, resource="customers", action="export", scope="all")
    FieldRule.create(role=role, resource="customers", field="phone", rule="hidden")
    FieldRule.create(role=role, resource="customers", field="credit_score", rule="hidden")
    _, ro = make_user("ro", roles=("readonly",))
    r = client.get(f"{API}/customers/export?format=xlsx", headers=ro)
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    header = [c.value for c in sheet[1]]
    assert "phone" not in header and "custom.credit_score" not in header and "email" in header
    assert sheet.max_row == 4
