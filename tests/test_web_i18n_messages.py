"""Chinese beyond the chrome: validation and error messages (API JSON per ``Accept-Language``, the
workbench per the user's language), error pages, and times/amounts in the user's zone and locale.

English stays what an API client gets without ``Accept-Language``; only message texts change,
never the error's shape, its keys, ``code`` or ``status``.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from crm_core.browser_testing import post_form, web_login

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture
def admin_zh(app, client, make_user):
    """An admin logged in on ``client`` with Chinese saved as their language; API headers too."""
    _user, h = make_user("boss", roles=("admin",))
    web_login(client, "boss")
    post_form(client, "/language", {"language": "zh_CN", "next": "/"}, page="/")
    return h


def test_api_validation_messages_follow_accept_language(app, make_user):
    _user, h = make_user("api_admin", roles=("admin",))
    api = app.test_client()
    english = api.post("/api/v1/customers", json={"phone": "12"}, headers=h)
    chinese = api.post("/api/v1/customers", json={"phone": "12"}, headers={**h, **ZH})
    assert english.status_code == chinese.status_code == 422
    en, zh = english.get_json(), chinese.get_json()
    assert set(en) == set(zh) and en["code"] == zh["code"] and en["status"] == zh["status"]
    assert set(en["errors"]) == set(zh["errors"]) == {"name", "phone"}
    assert en["errors"]["name"] == ["Missing data for required field."]
    assert zh["errors"]["name"] == ["必填字段缺少数据。"]
    assert zh["errors"]["phone"] == ["不是有效的电话号码。"]
    assert en["message"] == "Invalid input: name, phone."
    assert zh["message"] == "输入无效：name, phone。"


def test_api_messages_with_values_are_translated_with_their_values(app, make_user):
    _user, h = make_user("api_admin", roles=("admin",))
    api = app.test_client()
    body = {"username": "shorty", "password": "abc"}
    en = api.post("/api/v1/users", json=body, headers=h).get_json()
    zh = api.post("/api/v1/users", json=body, headers={**h, **ZH}).get_json()
    assert "Must be at least 8 characters long." in en["errors"]["password"]
    assert "长度至少为 8 个字符。" in zh["errors"]["password"]
    # marshmallow's own messages with values (Length, Range, OneOf)
    zh = api.post(
        "/api/v1/customers", json={"name": "x", "lifecycle_stage": "nope"}, headers={**h, **ZH}
    ).get_json()
    assert zh["errors"]["lifecycle_stage"][0].startswith("必须是以下之一：")
    assert "lead" in zh["errors"]["lifecycle_stage"][0]  # the codes a client must send stay codes
    zh = api.post("/api/v1/deals", json={"title": "x", "amount": "-1"}, headers={**h, **ZH}).get_json()
    assert zh["errors"]["amount"] == ["必须大于或等于 0 且小于或等于 10000000000000。"]  # Range
    missing = api.get("/api/v1/customers/999999", headers={**h, **ZH}).get_json()
    assert missing["message"] == "找不到客户记录 999999。"  # the kind of record by its name
    assert api.get("/api/v1/customers/999999", headers=h).get_json()["message"] == (
        "No customers record 999999."
    )


def test_workbench_form_errors_are_in_the_users_language(client, admin_zh):
    r = post_form(client, "/records/customers/new", {"name": "", "phone": "12"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "必填字段缺少数据。" in html and "不是有效的电话号码。" in html
    assert "Missing data for required field." not in html and "Not a valid phone number." not in html
    # a form shows choices by their labels: so does the message naming them
    html = post_form(client, "/records/tickets/new", {"title": "退货", "priority": "nope"}).get_data(
        as_text=True
    )
    assert "必须是以下之一：低, 普通, 高, 紧急。" in html


def test_password_policy_messages_are_translated(client, admin_zh):
    data = {"current_password": "wrong", "new_password": "abc", "confirm_password": "abc"}
    html = post_form(client, "/account/password", data).get_data(as_text=True)
    assert "长度至少为 8 个字符。" in html
    assert "Must be at least" not in html


@pytest.mark.parametrize(
    ("path", "method", "status", "title", "text"),
    [
        ("/nothing-here", "get", 404, "页面不存在", "服务器上找不到所请求的网址"),
        ("/records/no-such-thing/", "get", 404, "页面不存在", "不存在集合 &#39;no-such-thing&#39;。"),
        ("/logout", "get", 405, "不允许的请求方法", "所请求的网址不支持此请求方法"),
    ],
)
def test_error_pages_are_translated(client, admin_zh, path, method, status, title, text):
    r = getattr(client, method)(path)
    assert r.status_code == status
    html = r.get_data(as_text=True)
    assert title in html and text in html
    assert "Not Found" not in html and "Method Not Allowed" not in html


def test_forbidden_page_is_translated(app, make_user):
    make_user("clerk", roles=())
    clerk = app.test_client()
    web_login(clerk, "clerk")
    post_form(clerk, "/language", {"language": "zh_CN", "next": "/"}, page="/")
    r = clerk.get("/admin/")
    assert r.status_code == 403
    html = r.get_data(as_text=True)
    assert "禁止访问" in html and "Forbidden" not in html


def _customer_created_at(app, h) -> tuple[int, dt.datetime]:
    r = app.test_client().post("/api/v1/customers", json={"name": "时区客户"}, headers=h)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    return body["id"], dt.datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))


def test_times_are_shown_in_the_users_zone_without_microseconds(app, client, admin_zh):
    record_id, created = _customer_created_at(app, admin_zh)
    created = created.replace(tzinfo=created.tzinfo or dt.UTC)
    html = client.get(f"/records/customers/{record_id}").get_data(as_text=True)
    utc = created.astimezone(dt.UTC)
    assert f"{utc.year}年{utc.month}月{utc.day}日 {utc:%H:%M}" in html  # the instance zone: UTC
    visible = re.sub(r"<[^>]+>", " ", html)  # <time datetime="..."> keeps the exact ISO value
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", visible)  # no raw times with microseconds

    r = post_form(client, "/account/timezone", {"timezone": "Asia/Shanghai"}, page="/account/password")
    assert r.status_code == 200 and "您的时区已保存。" in r.get_data(as_text=True)
    shanghai = created.astimezone(dt.timezone(dt.timedelta(hours=8)))
    html = client.get(f"/records/customers/{record_id}").get_data(as_text=True)
    assert f"{shanghai.year}年{shanghai.month}月{shanghai.day}日 {shanghai:%H:%M}" in html


def test_an_unknown_time_zone_is_refused_in_the_users_language(client, admin_zh):
    r = post_form(client, "/account/timezone", {"timezone": "Mars/Olympus"}, page="/account/password")
    assert r.status_code == 422
    assert "未知的时区 Mars/Olympus。" in r.get_data(as_text=True)


def test_the_instance_time_zone_setting_applies_to_users_without_one(app_config, db_url):
    from crm_core.app import create_app
    from crm_core.testing import TEST_PASSWORD

    zoned = create_app({**app_config, "DATABASE_URL": db_url, "TIMEZONE": "Asia/Shanghai"})
    with zoned.app_context():
        from crm_core.auth import create_user

        create_user("tz_admin", TEST_PASSWORD, roles=("admin",))
    client = zoned.test_client()
    web_login(client, "tz_admin")
    html = client.get("/account/password").get_data(as_text=True)
    assert "Asia/Shanghai" in html


def test_a_bad_instance_time_zone_stops_the_app(app_config, db_url):
    from crm_core.app import create_app
    from crm_core.config import ConfigError

    with pytest.raises(ConfigError, match="TIMEZONE"):
        create_app({**app_config, "DATABASE_URL": db_url, "TIMEZONE": "Nowhere/Land"})


def test_amounts_are_formatted_for_the_locale(app, client, admin_zh):
    api = app.test_client()
    r = api.post(
        "/api/v1/pipelines",
        json={"name": "Sales", "is_default": True, "stages": [{"name": "Lead"}]},
        headers=admin_zh,
    )
    assert r.status_code == 201, r.get_json()
    customer = api.post("/api/v1/customers", json={"name": "Big buyer"}, headers=admin_zh).get_json()
    r = api.post(
        "/api/v1/deals",
        json={"title": "Big deal", "customer_id": customer["id"], "amount": "1234567.50", "currency": "CNY"},
        headers=admin_zh,
    )
    assert r.status_code == 201, r.get_json()
    html = client.get("/pipeline").get_data(as_text=True)
    assert "¥1,234,567.50" in html
    assert "1234567.50" not in html


def test_admin_form_refusals_are_in_the_users_language(client, admin_zh):
    """A refusal of the admin pages (a duplicate username) reads in Chinese."""
    data = {"username": "boss", "password": "Another-Passw0rd"}
    r = post_form(client, "/admin/users", data)
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert "已被占用。" in html and "Already taken." not in html


def test_codes_are_shown_with_labels(app, client, admin_zh):
    """The role grid's resources and actions, field rules, custom-field entities and types, and
    the usual codes of channels and industries read as words, not codes."""
    api = app.test_client()
    r = api.post("/api/v1/customers", json={"name": "渠道客户", "source_channel": "kol"}, headers=admin_zh)
    assert r.status_code == 201, r.get_json()
    r = api.post("/api/v1/companies", json={"name": "零售公司", "industry": "retail"}, headers=admin_zh)
    assert r.status_code == 201, r.get_json()
    sales = next(x for x in api.get("/api/v1/roles", headers=admin_zh).get_json() if x["name"] == "sales")

    grid = client.get(f"/admin/roles/{sales['id']}").get_data(as_text=True)
    assert "<th>查看</th>" in grid and "<th>导出</th>" in grid and "<th>read</th>" not in grid
    assert '<th scope="row">客户 <small' in grid and ">隐藏</option>" in grid
    fields = client.get("/admin/fields?entity=customers").get_data(as_text=True)
    assert ">整数</option>" in fields and ">客户</option>" in fields and ">int</option>" not in fields
    customers = client.get("/records/customers/").get_data(as_text=True)
    assert "KOL 达人" in customers and ">kol<" not in customers
    companies = client.get("/records/companies/").get_data(as_text=True)
    assert "零售" in companies and ">retail<" not in companies
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert "<td>新建</td>" in audit and "<td>create</td>" not in audit


def test_datetime_inputs_are_in_the_users_zone_both_ways(app, client, admin_zh):
    """A due time typed in Shanghai time is stored as UTC, and the edit form shows it back as typed."""
    post_form(client, "/account/timezone", {"timezone": "Asia/Shanghai"}, page="/account/password")
    r = post_form(
        client, "/records/activities/new", {"kind": "task", "subject": "回访", "due_at": "2026-12-20T09:00"}
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    record_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    stored = app.test_client().get(f"/api/v1/activities/{record_id}", headers=admin_zh).get_json()
    assert stored["due_at"].startswith("2026-12-20T01:00")
    form = client.get(f"/records/activities/{record_id}/edit").get_data(as_text=True)
    assert 'name="due_at" value="2026-12-20T09:00"' in form
    assert "2026年12月20日 09:00" in client.get(f"/records/activities/{record_id}").get_data(as_text=True)
    # shown again after a refusal: what was typed, not shifted once more
    r = post_form(
        client, f"/records/activities/{record_id}/edit", {"subject": "", "due_at": "2026-12-21T10:30"}
    )
    assert r.status_code == 422
    assert 'name="due_at" value="2026-12-21T10:30"' in r.get_data(as_text=True)
