"""The import wizard (upload with an encoding choice, preview, column mapping, create or update,
a task with progress, refused rows as a file), the API imports' decoding rules, and phone search,
through the HTTP client on SQLite and PostgreSQL.

Issue 15 saw: a small GBK file from Excel imported ``周杰`` as ``ЦЬЅЬ`` (a guessed cp1251); the
label the import page lists (``名称``) refused; no preview, mapping, update or progress; and
``138 0013 8000`` finding nothing while ``13800138000`` did.
"""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from crm_core.browser_testing import csrf_from, web_login
from crm_core.jobs.tasks import run_pending
from crm_core.testing import follow_task

API = "/api/v1"
ZH = {"Accept-Language": "zh-CN"}
SELECT_RE = re.compile(r'<select name="(column-\d+)"[^>]*>(.*?)</select>', re.S)
SELECTED_RE = re.compile(r'<option value="([^"]*)" selected>')


@pytest.fixture
def admin(app, client, make_user):
    """The admin's bearer headers; ``client`` is logged in to the workbench as the admin."""
    _user, headers = make_user("boss", roles=("admin",))
    assert web_login(client, "boss").status_code == 302
    return headers


def set_language(client, lang: str) -> None:
    token = csrf_from(client, "/")
    r = client.post("/language", data={"csrf_token": token, "language": lang})
    assert r.status_code in (302, 303), r.status_code


def upload(client, resource: str, data: bytes, filename: str, encoding: str = "", **kwargs):
    """Step 1 of the wizard: the response (303 to the mapping page when the file reads)."""
    token = csrf_from(client, f"/records/{resource}/import")
    form = {"csrf_token": token, "step": "upload", "encoding": encoding, "file": (io.BytesIO(data), filename)}
    return client.post(f"/records/{resource}/import", data=form, content_type="multipart/form-data", **kwargs)


def suggested(html: str) -> dict[str, str]:
    """The pre-selected field of each column select of the mapping page."""
    out = {}
    for name, body in SELECT_RE.findall(html):
        chosen = SELECTED_RE.findall(body)
        out[name] = chosen[0] if chosen else ""
    return out


def run_wizard(client, resource, data, filename, *, encoding="", mode="create", match_key="", columns=None):
    """Upload, read the mapping page, post its suggested mapping (with ``columns`` changes),
    run the task as the scheduler would, and return (mapping page html, report page html)."""
    r = upload(client, resource, data, filename, encoding)
    assert r.status_code == 303, r.get_data(as_text=True)
    mapping_url = r.headers["Location"]
    page = client.get(mapping_url)
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    form = {**suggested(html), **(columns or {})}
    token = csrf_from(client, mapping_url)
    r = client.post(
        mapping_url,
        data={"csrf_token": token, "encoding": encoding, "mode": mode, "match_key": match_key, **form},
    )
    assert r.status_code == 303, r.get_data(as_text=True)
    assert "task=" in r.headers["Location"]
    run_pending(client.application)
    report = client.get(r.headers["Location"])
    assert report.status_code == 200
    return html, report.get_data(as_text=True)


def customers(client, headers, query=""):
    return client.get(f"{API}/customers?sort=name&page_size=100{query}", headers=headers).get_json()


def direct_post(client, resource, data, filename):
    """A file posted straight to the import page (no wizard step), as the old page did."""
    token = csrf_from(client, f"/records/{resource}/import")
    r = client.post(
        f"/records/{resource}/import",
        data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303, r.get_data(as_text=True)
    run_pending(client.application)
    return client.get(r.headers["Location"]).get_data(as_text=True)


# --- what was seen -----------------------------------------------------------------------------


def test_small_gbk_file_from_excel_keeps_its_chinese_name(client, admin):
    """Seen: ``周杰`` in a GBK file came in as ``ЦЬЅЬ`` (charset detection said cp1251)."""
    data = "姓名,手机\n周杰,13800138000\n".encode("gbk")
    html = direct_post(client, "customers", data, "excel.csv")
    assert "1 row(s) imported, 0 refused" in html, html
    assert [c["name"] for c in customers(client, admin)] == ["周杰"]
    # the API importer follows the same rule
    r = client.post(
        f"{API}/customers/import?sync=true",
        data={"file": (io.BytesIO("姓名,手机\n周杰伦,13900139000\n".encode("gbk")), "excel.csv")},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert r.status_code == 200, r.get_json()
    assert {c["name"] for c in customers(client, admin)} == {"周杰", "周杰伦"}


def test_the_label_the_import_page_lists_is_a_valid_heading(client, admin):
    """Seen: the import page lists ``名称`` (the zh label of name) but a file headed ``名称``
    was refused (the API answered 400, the page a failed import)."""
    set_language(client, "zh_CN")
    page = client.get("/records/customers/import").get_data(as_text=True)
    assert "名称" in page
    html = direct_post(client, "customers", "名称,手机\n周杰,13800138000\n".encode(), "a.csv")
    assert 'data-status="done"' in html, html
    assert [c["name"] for c in customers(client, admin)] == ["周杰"]
    r = client.post(
        f"{API}/customers/import?sync=true",
        data={"file": (io.BytesIO("名称,邮箱\n王菲,wang@example.com\n".encode()), "b.csv")},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["imported"] == 1
    # a custom object's API import takes the translated labels too
    assert (
        client.post(
            f"{API}/objects",
            json={"name": "course", "label": {"en": "Course", "zh-CN": "课程"}},
            headers=admin,
        ).status_code
        == 201
    )
    r = client.post(
        f"{API}/objects/course/import?sync=true",
        data={"file": (io.BytesIO("名称\n高级课程\n".encode("gbk")), "c.csv")},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert r.status_code == 200, r.get_json()
    names = [o["name"] for o in client.get(f"{API}/objects/course", headers=admin).get_json()]
    assert names == ["高级课程"]


def test_phone_search_normalises_what_is_typed(app, client, admin, make_user):
    """Seen: ``138 0013 8000`` found nothing while ``13800138000`` did (phones are E.164)."""
    r = client.post(f"{API}/customers", json={"name": "周杰", "phone": "13800138000"}, headers=admin)
    assert r.status_code == 201
    assert r.get_json()["phone"] == "+8613800138000"
    client.post(f"{API}/customers", json={"name": "Other", "phone": "13900139000"}, headers=admin)
    for typed in (
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "0086 13800138000",
        "(138) 0013 8000",
    ):
        found = [
            c["name"]
            for c in client.get(f"{API}/customers", query_string={"q": typed}, headers=admin).get_json()
        ]
        assert found == ["周杰"], typed
        html = client.get("/records/customers/", query_string={"q": typed}).get_data(as_text=True)
        assert "周杰" in html and "Other" not in html, typed
    # a user who may not see phones cannot find customers by them either
    r = client.post(
        f"{API}/roles",
        json={
            "name": "no-phone",
            "grants": [{"resource": "customers", "action": "read", "scope": "all"}],
            "field_rules": [{"resource": "customers", "field": "phone", "rule": "hidden"}],
        },
        headers=admin,
    )
    assert r.status_code == 201, r.get_json()
    _u, h = make_user("nophone", roles=("no-phone",))
    assert client.get(f"{API}/customers", query_string={"q": "138 0013 8000"}, headers=h).get_json() == []


# --- the wizard ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding,data",
    [
        pytest.param("", "姓名,手机\n周杰,13800138000\n".encode("gbk"), id="gbk-auto"),
        pytest.param("gb18030", "姓名,手机\n周杰𠮷,13800138000\n".encode("gb18030"), id="gb18030-chosen"),
        pytest.param("", "姓名,手机\n周杰𠮷,13800138000\n".encode("gb18030"), id="gb18030-auto"),
        pytest.param("", b"\xef\xbb\xbf" + "姓名,手机\n周杰,13800138000\n".encode(), id="utf8-bom"),
        pytest.param("", "姓名,手机\n周杰,13800138000\n".encode("utf-16"), id="utf16-bom"),
    ],
)
def test_wizard_previews_decoded_rows_and_imports(client, admin, encoding, data):
    name = data.decode("utf-16") if data[:2] == b"\xff\xfe" else None
    html, report = run_wizard(client, "customers", data, "people.csv", encoding=encoding)
    expected = "周杰𠮷" if "𠮷".encode("gb18030") in data else "周杰"
    assert name is None or expected in name
    assert f"<td>{expected}</td>" in html  # the preview shows the decoded text
    assert suggested(html) == {"column-0": "name", "column-1": "phone"}
    assert "1 row(s) imported, 0 refused" in report, report
    assert [(c["name"], c["phone"]) for c in customers(client, admin)] == [(expected, "+8613800138000")]


def test_xlsx_with_chinese_headers(client, admin):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["名称", "手机", "邮箱", "性别", "标签"])
    sheet.append(["周杰", 13800138000, "Zhou@Example.com", "男", "vip，kol"])
    sheet.append(["王菲", "139 0013 9000", "", "女", ""])
    out = io.BytesIO()
    book.save(out)
    html, report = run_wizard(client, "customers", out.getvalue(), "people.xlsx")
    assert suggested(html) == {
        "column-0": "name",
        "column-1": "phone",
        "column-2": "email",
        "column-3": "gender",
        "column-4": "tags",
    }
    assert "2 row(s) imported, 0 refused" in report, report
    rows = {c["name"]: c for c in customers(client, admin)}
    assert rows["周杰"]["phone"] == "+8613800138000" and rows["周杰"]["email"] == "zhou@example.com"
    assert rows["周杰"]["gender"] == "male" and sorted(rows["周杰"]["tags"]) == ["kol", "vip"]
    assert rows["王菲"]["phone"] == "+8613900139000" and rows["王菲"]["gender"] == "female"


def test_create_or_update_by_phone(client, admin):
    r = client.post(f"{API}/customers", json={"name": "Old name", "phone": "13800138000"}, headers=admin)
    existing = r.get_json()
    data = "名称,手机,邮箱\n周杰,138 0013 8000,zhou@example.com\n新客户,13900139000,\n".encode("gbk")
    _html, report = run_wizard(client, "customers", data, "update.csv", mode="upsert", match_key="phone")
    assert "1 record(s) created, 1 updated, 0 row(s) refused" in report, report
    rows = {c["name"]: c for c in customers(client, admin)}
    assert rows["周杰"]["id"] == existing["id"] and rows["周杰"]["email"] == "zhou@example.com"
    assert rows["新客户"]["phone"] == "+8613900139000"
    # by e-mail, an empty cell leaves the value as it is
    data = "email,name,phone\nZHOU@example.com,周杰伦,\n".encode()
    _html, report = run_wizard(client, "customers", data, "again.csv", mode="upsert", match_key="email")
    assert "0 record(s) created, 1 updated, 0 row(s) refused" in report, report
    again = client.get(f"{API}/customers/{existing['id']}", headers=admin).get_json()
    assert again["name"] == "周杰伦" and again["phone"] == "+8613800138000"


def test_update_by_id_and_out_of_scope_rows_are_refused(app, client, admin, make_user):
    """A sales rep's file may match a customer of another department: that row is refused (in
    the rep's language) and the customer is not changed; rows in the rep's scope update."""
    for name in ("North", "South"):
        assert client.post(f"{API}/departments", json={"name": name}, headers=admin).status_code == 201
    grants = [
        {"resource": "customers", "action": a, "scope": "department"} for a in ("read", "update", "create")
    ]
    assert (
        client.post(f"{API}/roles", json={"name": "rep", "grants": grants}, headers=admin).status_code == 201
    )
    make_user("rep", roles=("rep",), department_id=1)
    mine = client.post(
        f"{API}/customers", json={"name": "Mine", "phone": "13800138000", "department_id": 1}, headers=admin
    ).get_json()
    theirs = client.post(
        f"{API}/customers", json={"name": "Theirs", "phone": "13900139000", "department_id": 2}, headers=admin
    ).get_json()
    rep = app.test_client()
    assert web_login(rep, "rep").status_code == 302
    set_language(rep, "zh_CN")
    data = "手机,名称\n13800138000,改名\n13900139000,偷改\n".encode("gbk")
    _html, report = run_wizard(rep, "customers", data, "rep.csv", mode="upsert", match_key="phone")
    assert "该行匹配的记录您无权修改，未作更改。" in report, report
    assert 'data-row="3"' in report and 'data-row="2"' not in report
    assert client.get(f"{API}/customers/{mine['id']}", headers=admin).get_json()["name"] == "改名"
    assert client.get(f"{API}/customers/{theirs['id']}", headers=admin).get_json()["name"] == "Theirs"
    # by id: the same refusal, and an id nobody has
    data = f"id,名称\n{theirs['id']},偷改\n999999,无\n{mine['id']},再改\n".encode()
    _html, report = run_wizard(rep, "customers", data, "ids.csv", mode="upsert", match_key="id")
    assert 'data-row="2"' in report and 'data-row="3"' in report and 'data-row="4"' not in report, report
    assert client.get(f"{API}/customers/{theirs['id']}", headers=admin).get_json()["name"] == "Theirs"
    assert client.get(f"{API}/customers/{mine['id']}", headers=admin).get_json()["name"] == "再改"


def test_refused_rows_download_with_row_column_and_message(client, admin):
    set_language(client, "zh_CN")
    data = "名称,手机\n周杰,13800138000\n王菲,not-a-phone\n,13700137000\n".encode("gbk")
    _html, report = run_wizard(client, "customers", data, "bad.csv")
    match = re.search(r'href="(/tasks/(\d+)/errors\.csv)"', report)
    assert match, report
    r = client.get(match.group(1))
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0] == ["行", "列", "字段", "问题"]
    by_row = {(line[0], line[1], line[2]): line[3] for line in lines[1:]}
    assert set(by_row) == {("3", "手机", "phone"), ("4", "名称", "name")}
    assert all(by_row.values())
    r = client.get(f"/tasks/{match.group(2)}/errors.xlsx")
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("行", "列", "字段", "问题") and len(rows) == 3
    # someone else's task has no file for you
    assert client.get("/tasks/999999/errors.csv").status_code == 404


def test_mapping_is_remembered_for_the_next_file(client, admin):
    data = "客户全名,联系人手机\n周杰,13800138000\n".encode("gb18030")
    html, report = run_wizard(
        client,
        "customers",
        data,
        "one.csv",
        encoding="gb18030",
        mode="upsert",
        match_key="phone",
        columns={"column-0": "name", "column-1": "phone"},
    )
    assert suggested(html) == {"column-0": "", "column-1": ""}  # headings nobody knows
    assert "1 record(s) created" in report
    # the next time: the encoding, the columns (in any order) and the mode are as chosen
    page = client.get("/records/customers/import").get_data(as_text=True)
    assert '<option value="gb18030" selected>' in page
    r = upload(client, "customers", "联系人手机,客户全名\n13900139000,王菲\n".encode(), "two.csv")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert suggested(html) == {"column-0": "phone", "column-1": "name"}
    assert 'value="upsert" checked' in html and '<option value="phone" selected>' in html
    # another user starts from the aliases alone
    other = client.application.test_client()
    from crm_core.auth import create_user
    from crm_core.testing import TEST_PASSWORD

    create_user("other", TEST_PASSWORD, roles=["admin"])
    assert web_login(other, "other").status_code == 302
    r = upload(other, "customers", "联系人手机,客户全名\n13700137000,李四\n".encode(), "three.csv")
    assert suggested(other.get(r.headers["Location"]).get_data(as_text=True)) == {
        "column-0": "",
        "column-1": "",
    }


def test_references_by_name_within_what_the_user_may_read(client, admin, make_user):
    owner, _h = make_user("zhang", roles=("admin",), name="张三")
    data = "名称,负责人\n周杰,张三\n王菲,李四\n".encode("gbk")
    html, report = run_wizard(client, "customers", data, "owners.csv")
    columns = suggested(html)
    assert columns["column-1"] == "owner_id"
    assert "1 row(s) imported, 1 refused" in report and 'data-row="3"' in report, report
    assert "Nothing you may choose is called 李四." in report
    (row,) = [c for c in customers(client, admin) if c["name"] == "周杰"]
    assert row["owner_id"] == owner.id


def test_export_edit_and_import_back_by_id(client, admin):
    """The workbench's own XLSX export, edited in Excel and imported back, updates by id."""
    for name, phone in (("周杰", "13800138000"), ("王菲", "13900139000")):
        assert (
            client.post(
                f"{API}/customers", json={"name": name, "phone": phone, "tags": ["vip"]}, headers=admin
            ).status_code
            == 201
        )
    exported = client.get("/records/customers/export.xlsx")
    assert exported.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(exported.get_data()))
    sheet = book.active
    headers = [c.value for c in sheet[1]]
    name_col = headers.index("name") + 1
    for row in range(2, sheet.max_row + 1):
        sheet.cell(row=row, column=name_col).value = f"{sheet.cell(row=row, column=name_col).value}（已核实）"
    out = io.BytesIO()
    book.save(out)
    html, report = run_wizard(
        client, "customers", out.getvalue(), "edited.xlsx", mode="upsert", match_key="id"
    )
    assert suggested(html)[f"column-{headers.index('id')}"] == "id"
    assert "0 record(s) created, 2 updated, 0 row(s) refused" in report, report
    assert sorted(c["name"] for c in customers(client, admin)) == ["周杰（已核实）", "王菲（已核实）"]


def test_deals_with_customer_and_stage_by_name(client, admin):
    r = client.post(
        f"{API}/pipelines",
        json={
            "name": "销售",
            "is_default": True,
            "stages": [{"name": "线索"}, {"name": "赢单", "kind": "won"}],
        },
        headers=admin,
    )
    assert r.status_code == 201, r.get_json()
    lead = r.get_json()["stages"][0]["id"]
    customer = client.post(f"{API}/customers", json={"name": "周杰"}, headers=admin).get_json()
    data = "标题,客户,金额,阶段\n大单,周杰,1200.50,线索\n小单,无名,10,赢单\n".encode("gbk")
    html, report = run_wizard(client, "deals", data, "deals.csv")
    assert suggested(html) == {
        "column-0": "title",
        "column-1": "customer_id",
        "column-2": "amount",
        "column-3": "stage_id",
    }
    assert "1 row(s) imported, 1 refused" in report and 'data-row="3"' in report, report
    (deal,) = client.get(f"{API}/deals", headers=admin).get_json()
    assert (deal["title"], deal["customer_id"], deal["stage_id"], deal["amount"]) == (
        "大单",
        customer["id"],
        lead,
        "1200.50",
    )


def test_custom_object_and_custom_field_labels(client, admin):
    assert (
        client.post(
            f"{API}/objects",
            json={"name": "course", "label": {"en": "Course", "zh-CN": "课程"}},
            headers=admin,
        ).status_code
        == 201
    )
    r = client.post(
        f"{API}/fields/objects.course",
        json={"name": "level", "type": "int", "label": {"en": "Level", "zh-CN": "级别"}},
        headers=admin,
    )
    assert r.status_code == 201, r.get_json()
    html, report = run_wizard(client, "objects.course", "名称,级别\n高级,3\n初级,x\n".encode("gbk"), "c.csv")
    assert suggested(html) == {"column-0": "name", "column-1": "custom.level"}
    assert "1 row(s) imported, 1 refused" in report and 'data-row="3"' in report, report


def test_update_by_a_custom_phone_field(client, admin):
    """A custom object matched by its custom (unique) phone field."""
    assert (
        client.post(
            f"{API}/objects", json={"name": "store", "label": {"en": "Store"}}, headers=admin
        ).status_code
        == 201
    )
    r = client.post(
        f"{API}/fields/objects.store",
        json={
            "name": "hotline",
            "type": "phone",
            "unique": True,
            "label": {"en": "Hotline", "zh-CN": "热线"},
        },
        headers=admin,
    )
    assert r.status_code == 201, r.get_json()
    r = client.post(
        f"{API}/objects/store", json={"name": "Old", "custom": {"hotline": "13800138000"}}, headers=admin
    )
    assert r.status_code == 201, r.get_json()
    store = r.get_json()
    data = "名称,热线\n新店名,138-0013-8000\n二店,13900139000\n坏店,12\n".encode("gbk")
    html, report = run_wizard(
        client, "objects.store", data, "s.csv", mode="upsert", match_key="custom.hotline"
    )
    assert suggested(html) == {"column-0": "name", "column-1": "custom.hotline"}
    assert "1 record(s) created, 1 updated, 1 row(s) refused" in report, report
    assert 'data-row="4"' in report
    assert client.get(f"{API}/objects/store/{store['id']}", headers=admin).get_json()["name"] == "新店名"


# --- bad input -------------------------------------------------------------------------------------


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    "data,filename,encoding,message",
    [
        pytest.param(b"", "empty.csv", "", "文件是空的。", id="empty"),
        pytest.param(b"  \r\n", "blank.csv", "", "文件是空的。", id="blank"),
        pytest.param("名称\n".encode(), "header-only.csv", "", "文件只有标题行，没有数据行。", id="no-rows"),
        pytest.param(_xlsx([]), "empty.xlsx", "", "工作簿中没有数据行。", id="xlsx-no-rows"),
        pytest.param(
            b"PK\x03\x04 not a zip",
            "broken.xlsx",
            "",
            "该文件不是可读取的 Excel（XLSX）工作簿。",
            id="xlsx-broken",
        ),
        pytest.param(
            "名称\n周杰\n".encode("gbk"),
            "gbk.csv",
            "utf-8",
            "该文件不是有效的 utf-8 文本",
            id="wrong-encoding",
        ),
        pytest.param(
            b"\x80\xff\xfe\x81\n",
            "binary.csv",
            "",
            "该文件既不是 UTF-8 也不是 GB18030 文本",
            id="undecodable",
        ),
    ],
)
def test_bad_uploads_get_a_clear_page_in_the_users_language(client, admin, data, filename, encoding, message):
    set_language(client, "zh_CN")
    r = upload(client, "customers", data, filename, encoding)
    html = r.get_data(as_text=True)
    assert r.status_code == 422, html
    assert message in html and 'id="import-upload"' in html
    assert "Bad Request" not in html


def test_wrong_headings_and_bad_mappings_are_explained(client, admin):
    set_language(client, "zh_CN")
    r = upload(client, "customers", b"foo,bar\n1,2\n", "wrong.csv")
    assert r.status_code == 303
    url = r.headers["Location"]
    html = client.get(url).get_data(as_text=True)
    assert suggested(html) == {"column-0": "", "column-1": ""}
    token = csrf_from(client, url)
    r = client.post(url, data={"csrf_token": token, "column-0": "", "column-1": "", "mode": "create"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "没有列对应到字段" in html and "foo, bar" in html
    # a field chosen twice, an update without its match column
    r = client.post(
        url,
        data={
            "csrf_token": token,
            "column-0": "name",
            "column-1": "name",
            "mode": "upsert",
            "match_key": "phone",
        },
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "另一列已对应此字段" in html and "请将一列对应到手机" in html
    # the upload belongs to its user alone
    other = client.application.test_client()
    assert client.get(url.replace("/import/", "/import/9") + "9").status_code == 404
    assert other.get(url).status_code in (302, 303)  # not logged in: to the login page


def test_api_import_reports_bad_files_as_json(client, admin):
    for data, filename in ((b"", "e.csv"), (b"\x80\xff\xfe\x81\n", "x.csv"), (_xlsx([]), "e.xlsx")):
        r = client.post(
            f"{API}/customers/import?sync=true",
            data={"file": (io.BytesIO(data), filename)},
            headers=admin,
            content_type="multipart/form-data",
        )
        assert r.status_code == 400 and r.get_json()["errors"]["file"], (filename, r.get_json())
    # the encoding the caller names is used (and checked)
    r = client.post(
        f"{API}/customers/import",
        data={"file": (io.BytesIO("姓名\n周杰\n".encode("big5")), "b.csv"), "encoding": "big5"},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert follow_task(client, r, admin).status_code == 200
    assert [c["name"] for c in customers(client, admin)] == ["周杰"]
    # a custom object's import too, queued as a task
    assert (
        client.post(
            f"{API}/objects", json={"name": "shop", "label": {"en": "Shop"}}, headers=admin
        ).status_code
        == 201
    )
    r = client.post(
        f"{API}/objects/shop/import",
        data={"file": (io.BytesIO("名稱,name\n,台北店\n".encode("big5")), "s.csv"), "encoding": "big5"},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert follow_task(client, r, admin).status_code == 200
    assert [o["name"] for o in client.get(f"{API}/objects/shop", headers=admin).get_json()] == ["台北店"]
    r = client.post(
        f"{API}/customers/import",
        data={"file": (io.BytesIO(b"name\nx\n"), "b.csv"), "encoding": "klingon"},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert r.status_code == 400 and r.get_json()["errors"]["encoding"]


def test_progress_fragment_while_queued(client, admin):
    r = upload(client, "companies", b"name\nAcme\nBeta\n", "c.csv")
    url = r.headers["Location"]
    token = csrf_from(client, url)
    r = client.post(url, data={"csrf_token": token, "column-0": "name", "mode": "create"})
    assert r.status_code == 303
    task_id = int(r.headers["Location"].rsplit("task=", 1)[1])
    fragment = client.get(f"/tasks/{task_id}/progress").get_data(as_text=True)
    assert 'data-status="queued"' in fragment and "<progress" in fragment and "hx-trigger" in fragment
    run_pending(client.application)
    fragment = client.get(f"/tasks/{task_id}/progress").get_data(as_text=True)
    assert 'data-status="done"' in fragment and "2 row(s) imported, 0 refused" in fragment
