"""Administration basics through the workbench and the API: departments renamed, moved (never
below their own sub-departments; paths and row scopes follow) and deleted (refused while users
or records are in them); custom fields edited without losing stored values; the Administration
menu only for people who administer something."""

from __future__ import annotations

import re

import pytest

from crm_core.auth.models import Department
from crm_core.browser_testing import post_form, web_login

API = "/api/v1"


def login_as(app, username):
    other = app.test_client()
    assert web_login(other, username).status_code == 302
    return other


def flashes(html: str) -> str:
    return " ".join(re.findall(r'<p class="crm-flash[^"]*" role="status">([^<]*)</p>', html))


@pytest.fixture
def tree(app, client, make_user):
    """Departments HQ > Sales > Sales East, and Service; an admin logged in on ``client``."""
    _, h = make_user("boss", roles=("admin",))
    api = app.test_client()

    def dept(name, parent=None):
        r = api.post(f"{API}/departments", json={"name": name, "parent_id": parent}, headers=h)
        assert r.status_code == 201, r.get_json()
        return r.get_json()["id"]

    hq = dept("HQ")
    sales = dept("Sales", hq)
    east = dept("Sales East", sales)
    service = dept("Service")
    web_login(client, "boss")
    return {"h": h, "api": api, "hq": hq, "sales": sales, "east": east, "service": service}


def test_a_sales_rep_sees_no_administration_menu(app, client, make_user, tree):
    make_user("rep", roles=("sales",), department_id=tree["east"])
    rep = login_as(app, "rep")
    html = rep.get("/").get_data(as_text=True)
    assert "/admin/" not in html and "Administration" not in html
    assert rep.get("/admin/").status_code == 403
    rep_zh = login_as(app, "rep")
    post_form(rep_zh, "/language", {"language": "zh_CN", "next": "/"}, page="/")
    assert "系统管理" not in rep_zh.get("/").get_data(as_text=True)
    # a manager (users, roles and audit of a branch) and the admin do
    make_user("lead", roles=("manager",), department_id=tree["sales"])
    assert 'href="/admin/"' in login_as(app, "lead").get("/").get_data(as_text=True)
    assert 'href="/admin/"' in client.get("/").get_data(as_text=True)


def test_rename_and_move_a_department_with_its_subtree(app, client, make_user, tree):
    r = post_form(
        client,
        f"/admin/departments/{tree['sales']}",
        {"name": "Sales & Marketing", "parent_id": str(tree["service"])},
        page="/admin/departments",
    )
    assert r.status_code == 302
    html = client.get("/admin/departments").get_data(as_text=True)
    assert "Sales &amp; Marketing" in html and "saved" in flashes(html)
    sales = Department.get_by_id(tree["sales"])
    east = Department.get_by_id(tree["east"])
    assert sales.name == "Sales & Marketing" and sales.parent_id == tree["service"]
    assert sales.path == f"/{tree['service']}/{tree['sales']}/"
    assert east.path == f"/{tree['service']}/{tree['sales']}/{tree['east']}/", "descendants move too"
    from crm_core.audit.models import AuditEntry

    entry = (
        AuditEntry.select().where(AuditEntry.resource == "departments").order_by(AuditEntry.id.desc()).first()
    )
    assert entry is not None and entry.action == "update", "the web change is audited"


def test_scopes_follow_a_moved_department(app, client, make_user, tree):
    _, east_h = make_user("east_rep", roles=("sales",), department_id=tree["east"])
    r = tree["api"].post(f"{API}/customers", json={"name": "Eastern buyer"}, headers=east_h)
    assert r.status_code == 201
    make_user("service_lead", roles=("manager",), department_id=tree["service"])
    lead = login_as(app, "service_lead")
    assert "Eastern buyer" not in lead.get("/records/customers/").get_data(as_text=True)
    post_form(
        client,
        f"/admin/departments/{tree['sales']}",
        {"parent_id": str(tree["service"])},
        page="/admin/departments",
    )
    assert "Eastern buyer" in lead.get("/records/customers/").get_data(as_text=True)


def test_a_department_cannot_move_below_its_own_descendant(app, client, tree):
    html = client.get("/admin/departments").get_data(as_text=True)
    form = re.search(rf'action="/admin/departments/{tree["sales"]}"[^>]*>(.*?)</form>', html, re.S).group(1)
    assert f'value="{tree["east"]}"' not in form, "its own sub-departments are not offered"
    r = post_form(
        client,
        f"/admin/departments/{tree['sales']}",
        {"parent_id": str(tree["east"])},
        page="/admin/departments",
        follow_redirects=True,
    )
    assert "cannot move below itself" in flashes(r.get_data(as_text=True))
    assert Department.get_by_id(tree["sales"]).parent_id == tree["hq"]
    assert Department.get_by_id(tree["east"]).path == f"/{tree['hq']}/{tree['sales']}/{tree['east']}/"
    r = tree["api"].patch(
        f"{API}/departments/{tree['hq']}", json={"parent_id": tree["east"]}, headers=tree["h"]
    )
    assert r.status_code == 422


def test_delete_is_refused_while_the_department_is_in_use(app, client, make_user, tree):
    # sub-departments
    r = post_form(
        client,
        f"/admin/departments/{tree['sales']}/delete",
        {},
        page="/admin/departments",
        follow_redirects=True,
    )
    assert "sub-departments" in flashes(r.get_data(as_text=True))
    # users
    make_user("member", roles=("sales",), department_id=tree["east"])
    r = post_form(
        client,
        f"/admin/departments/{tree['east']}/delete",
        {},
        page="/admin/departments",
        follow_redirects=True,
    )
    assert "1 user(s)" in flashes(r.get_data(as_text=True))
    # records (no users)
    r = tree["api"].post(
        f"{API}/customers", json={"name": "Left behind", "department_id": tree["service"]}, headers=tree["h"]
    )
    assert r.status_code == 201
    r = post_form(
        client,
        f"/admin/departments/{tree['service']}/delete",
        {},
        page="/admin/departments",
        follow_redirects=True,
    )
    message = flashes(r.get_data(as_text=True))
    assert "still holds records" in message and "Customers: 1" in message
    r = tree["api"].delete(f"{API}/departments/{tree['service']}", headers=tree["h"])
    assert r.status_code == 409 and r.get_json()["records"] == {"customer": 1}
    assert Department.get_or_none(Department.id == tree["service"]) is not None
    # empty: deleted
    empty = tree["api"].post(f"{API}/departments", json={"name": "Empty"}, headers=tree["h"]).get_json()
    r = post_form(
        client,
        f"/admin/departments/{empty['id']}/delete",
        {},
        page="/admin/departments",
        follow_redirects=True,
    )
    assert "deleted" in flashes(r.get_data(as_text=True))
    assert Department.get_or_none(Department.id == empty["id"]) is None


def test_department_messages_in_chinese(app, client, make_user, tree):
    post_form(client, "/language", {"language": "zh_CN", "next": "/"}, page="/")
    r = post_form(
        client,
        f"/admin/departments/{tree['sales']}",
        {"parent_id": str(tree["east"])},
        page="/admin/departments",
        follow_redirects=True,
    )
    message = flashes(r.get_data(as_text=True))
    assert message and not re.search(r"[A-Za-z]{4,}", message), message


def test_a_sales_rep_cannot_change_departments(app, make_user, tree):
    make_user("rep", roles=("sales",), department_id=tree["east"])
    rep = login_as(app, "rep")
    html = rep.get("/admin/departments").get_data(as_text=True)
    assert "crm-dept-edit" not in html and "crm-dept-delete" not in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = rep.post(f"/admin/departments/{tree['east']}", data={"name": "Mine", "csrf_token": token})
    assert r.status_code == 403
    assert Department.get_by_id(tree["east"]).name == "Sales East"


# --- custom fields -----------------------------------------------------------------------------------


@pytest.fixture
def field(app, client, make_user):
    _, h = make_user("boss", roles=("admin",))
    api = app.test_client()
    r = api.post(
        f"{API}/fields/customers",
        json={"name": "level", "type": "choice", "choices": ["gold", "silver"], "label": "Level"},
        headers=h,
    )
    assert r.status_code == 201, r.get_json()
    r = api.post(f"{API}/customers", json={"name": "Goldie", "custom": {"level": "gold"}}, headers=h)
    assert r.status_code == 201
    web_login(client, "boss")
    return {"h": h, "api": api, "customer": r.get_json()["id"]}


def test_edit_a_custom_field_label_help_and_choices(app, client, field):
    html = client.get("/admin/fields?entity=customers").get_data(as_text=True)
    assert 'href="/admin/fields/customers/level"' in html
    r = post_form(
        client,
        "/admin/fields/customers/level",
        {
            "type": "choice",
            "label_en": "Member level",
            "label_zh": "会员等级",
            "help_en": "Given by the shop",
            "choices": "gold, silver, bronze",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    got = field["api"].get(f"{API}/fields/customers/level", headers=field["h"]).get_json()
    assert got["label"] == {"en": "Member level", "zh-CN": "会员等级"}
    assert got["help"]["en"] == "Given by the shop"
    assert [c["value"] for c in got["choices"]] == ["gold", "silver", "bronze"]
    html = client.get("/records/customers/new").get_data(as_text=True)
    assert "Member level" in html and "bronze" in html


def test_a_field_change_that_would_lose_data_is_refused(app, client, field):
    # removing a choice a record holds
    r = post_form(
        client,
        "/admin/fields/customers/level",
        {"type": "choice", "label_en": "Level", "choices": "silver"},
    )
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert 'id="blocking-records"' in html and f"#{field['customer']}" in html
    assert 'value="silver"' in html, "what was typed is kept"
    # changing the type to one the stored value does not fit
    r = post_form(client, "/admin/fields/customers/level", {"type": "int", "label_en": "Level"})
    assert r.status_code == 409
    got = field["api"].get(f"{API}/fields/customers/level", headers=field["h"]).get_json()
    assert got["type"] == "choice" and [c["value"] for c in got["choices"]] == ["gold", "silver"]
    record = field["api"].get(f"{API}/customers/{field['customer']}", headers=field["h"]).get_json()
    assert record["custom"]["level"] == "gold", "the stored value is untouched"
    # a type every stored value fits is accepted (and the value kept)
    r = post_form(client, "/admin/fields/customers/level", {"type": "string", "label_en": "Level"})
    assert r.status_code == 302
    record = field["api"].get(f"{API}/customers/{field['customer']}", headers=field["h"]).get_json()
    assert record["custom"]["level"] == "gold"


def test_field_edit_needs_fields_update(app, make_user, field):
    make_user("rep", roles=("sales",))
    rep = login_as(app, "rep")
    assert rep.get("/admin/fields/customers/level").status_code == 403
    assert rep.get("/admin/fields/customers/nosuch").status_code == 403
