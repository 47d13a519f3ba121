"""Roles, departments and users over HTTP: roles as data with protected built-ins, the
department tree (moves keep paths right, cycles refused), user management inside one's scope
without privilege escalation, and IDOR attempts."""

from __future__ import annotations

import pytest

from crm_core.auth.models import Department


def dept(client, headers, name, parent_id=None):
    r = client.post("/api/v1/departments", json={"name": name, "parent_id": parent_id}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_department_tree_of_any_depth_moves_and_cycles(client, admin_headers):
    a = dept(client, admin_headers, "A")
    b = dept(client, admin_headers, "B", a["id"])
    c = dept(client, admin_headers, "C", b["id"])
    d = dept(client, admin_headers, "D", c["id"])
    e = dept(client, admin_headers, "E")
    assert d["path"] == f"/{a['id']}/{b['id']}/{c['id']}/{d['id']}/" and d["depth"] == 3
    below_b = client.get(f"/api/v1/departments?root={b['id']}", headers=admin_headers).get_json()
    assert [x["name"] for x in below_b] == ["B", "C", "D"]
    # a move below its own descendant, or itself, is a cycle
    for parent in (d["id"], b["id"]):
        r = client.patch(f"/api/v1/departments/{b['id']}", json={"parent_id": parent}, headers=admin_headers)
        assert r.status_code == 422 and "parent_id" in r.get_json()["errors"]
    r = client.patch(f"/api/v1/departments/{b['id']}", json={"parent_id": e["id"]}, headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["path"] == f"/{e['id']}/{b['id']}/"
    paths = {x.name: x.path for x in Department.select()}
    assert paths["D"] == f"/{e['id']}/{b['id']}/{c['id']}/{d['id']}/" and paths["A"] == f"/{a['id']}/"
    r = client.patch(f"/api/v1/departments/{b['id']}", json={"parent_id": None}, headers=admin_headers)
    assert r.get_json()["path"] == f"/{b['id']}/"
    assert Department.get_by_id(d["id"]).path == f"/{b['id']}/{c['id']}/{d['id']}/"
    assert client.delete(f"/api/v1/departments/{b['id']}", headers=admin_headers).status_code == 409
    assert client.delete(f"/api/v1/departments/{d['id']}", headers=admin_headers).status_code == 204
    r = client.post("/api/v1/departments", json={"name": "x", "parent_id": 10**6}, headers=admin_headers)
    assert r.status_code == 422 and "parent_id" in r.get_json()["errors"]


def test_department_tree_scope_sees_moved_subtrees(client, admin_headers, make_user):
    a = dept(client, admin_headers, "A")
    b = dept(client, admin_headers, "B", a["id"])
    other = dept(client, admin_headers, "O")
    _m, manager = make_user("mgr", roles=("manager",), department_id=a["id"])
    client.post("/api/v1/customers", json={"name": "in B", "department_id": b["id"]}, headers=admin_headers)
    names = lambda: [c["name"] for c in client.get("/api/v1/customers", headers=manager).get_json()]  # noqa: E731
    assert names() == ["in B"]
    client.patch(f"/api/v1/departments/{b['id']}", json={"parent_id": other["id"]}, headers=admin_headers)
    assert names() == []


def test_roles_as_data_and_builtins_protected(client, admin_headers):
    roles = {r["name"]: r for r in client.get("/api/v1/roles", headers=admin_headers).get_json()}
    assert {"admin", "manager", "sales", "service", "readonly"} <= set(roles)
    assert all(roles[n]["builtin"] for n in ("admin", "manager", "sales", "service", "readonly"))
    body = {
        "name": "auditor",
        "grants": [
            {"resource": "audit", "action": "read", "scope": "all"},
            {"resource": "customers", "action": "read", "scope": "department"},
        ],
        "field_rules": [{"resource": "customers", "field": "phone", "rule": "hidden"}],
    }
    r = client.post("/api/v1/roles", json=body, headers=admin_headers)
    assert r.status_code == 201 and len(r.get_json()["grants"]) == 2
    role_id = r.get_json()["id"]
    assert client.post("/api/v1/roles", json=body, headers=admin_headers).status_code == 409
    r = client.patch(
        f"/api/v1/roles/{role_id}",
        json={"grants": [{"resource": "customers", "action": "export", "scope": "own"}]},
        headers=admin_headers,
    )
    assert r.status_code == 200 and r.get_json()["grants"] == [
        {"resource": "customers", "action": "export", "scope": "own"}
    ]
    assert client.delete(f"/api/v1/roles/{role_id}", headers=admin_headers).status_code == 204
    admin_id, sales_id = roles["admin"]["id"], roles["sales"]["id"]
    assert client.delete(f"/api/v1/roles/{sales_id}", headers=admin_headers).status_code == 409
    assert (
        client.patch(f"/api/v1/roles/{sales_id}", json={"name": "seller"}, headers=admin_headers).status_code
        == 409
    )
    r = client.patch(f"/api/v1/roles/{admin_id}", json={"grants": []}, headers=admin_headers)
    assert r.status_code == 409
    # built-in non-admin grants are data an admin may change
    r = client.patch(
        f"/api/v1/roles/{sales_id}",
        json={"field_rules": [{"resource": "deals", "field": "amount", "rule": "read-only"}]},
        headers=admin_headers,
    )
    assert r.status_code == 200 and r.get_json()["field_rules"][0]["field"] == "amount"


@pytest.mark.parametrize(
    "grant, field",
    [
        ({"resource": "nope", "action": "read", "scope": "all"}, "grants.0"),
        ({"resource": "customers", "action": "fly", "scope": "all"}, "grants.0"),
        ({"resource": "customers", "action": "read", "scope": "galaxy"}, "grants"),
        ({"resource": "customers'; DROP TABLE role; --", "action": "read", "scope": "all"}, "grants.0"),
    ],
)
def test_invalid_grants_are_422(client, admin_headers, grant, field):
    r = client.post("/api/v1/roles", json={"name": "bad", "grants": [grant]}, headers=admin_headers)
    assert r.status_code == 422 and any(k.startswith(field) for k in r.get_json()["errors"])


def test_plugin_resources_can_be_granted(client, admin_headers):
    known = client.get("/api/v1/permissions", headers=admin_headers).get_json()["resources"]
    assert "customers" in known and "export" in known["customers"]["actions"]
    r = client.post(
        "/api/v1/roles",
        json={"name": "objs", "grants": [{"resource": "objects.course", "action": "read", "scope": "all"}]},
        headers=admin_headers,
    )
    assert r.status_code == 201


def test_non_admins_cannot_manage_roles(client, make_user):
    _u, manager = make_user("mgr", roles=("manager",))
    assert client.get("/api/v1/roles", headers=manager).status_code == 200  # read is granted
    assert client.post("/api/v1/roles", json={"name": "mine"}, headers=manager).status_code == 403
    _s, sales = make_user("sal", roles=("sales",))
    assert client.get("/api/v1/roles", headers=sales).status_code == 403


def test_users_api_scoped_no_idor_no_escalation(client, admin_headers, make_user):
    north = dept(client, admin_headers, "north")
    south = dept(client, admin_headers, "south")
    sales_user, sales = make_user("s_north", roles=("sales",), department_id=north["id"])
    south_user, _ = make_user("s_south", roles=("sales",), department_id=south["id"])
    listed = [u["username"] for u in client.get("/api/v1/users", headers=sales).get_json()]
    assert listed == ["s_north"]
    for probe in (south_user.id, "1 OR 1=1", "../1", 10**9):
        assert client.get(f"/api/v1/users/{probe}", headers=sales).status_code == 404
    assert (
        client.patch(f"/api/v1/users/{south_user.id}", json={"name": "x"}, headers=sales).status_code == 404
    )
    # sales may read their own record but not change it (no users:update), nor their roles
    assert (
        client.patch(f"/api/v1/users/{sales_user.id}", json={"roles": ["admin"]}, headers=sales).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/users", json={"username": "x", "password": "Passw0rd-1"}, headers=sales
        ).status_code
        == 403
    )
    me = client.get("/api/v1/users/me", headers=sales).get_json()
    assert (
        me["permissions"]["customers"]["read"] == "department"
        and me["permissions"]["roles"]["update"] is None
    )
    assert "password_hash" not in me


def test_admin_manages_users_and_deactivation_revokes_tokens(client, admin_headers, make_user):
    north = dept(client, admin_headers, "north")
    r = client.post(
        "/api/v1/users",
        json={
            "username": "newbie",
            "password": "Passw0rd-1",
            "roles": ["sales"],
            "department_id": north["id"],
        },
        headers=admin_headers,
    )
    assert r.status_code == 201 and r.get_json()["roles"] == ["sales"] and "password" not in r.get_json()
    uid = r.get_json()["id"]
    assert (
        client.post(
            "/api/v1/users", json={"username": "newbie", "password": "Passw0rd-1"}, headers=admin_headers
        ).status_code
        == 409
    )
    r = client.post("/api/v1/users", json={"username": "weak", "password": "short"}, headers=admin_headers)
    assert r.status_code == 422 and "password" in r.get_json()["errors"]
    token = client.post(
        "/api/v1/auth/token", json={"username": "newbie", "password": "Passw0rd-1"}
    ).get_json()["access_token"]
    user_headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/users/me", headers=user_headers).status_code == 200
    r = client.patch(
        f"/api/v1/users/{uid}", json={"roles": ["sales", "service"], "name": "New Bie"}, headers=admin_headers
    )
    assert r.status_code == 200 and r.get_json()["roles"] == ["sales", "service"]
    assert client.delete(f"/api/v1/users/{uid}", headers=admin_headers).status_code == 204
    assert client.get("/api/v1/users/me", headers=user_headers).status_code == 401
    assert (
        client.post("/api/v1/auth/token", json={"username": "newbie", "password": "Passw0rd-1"}).status_code
        == 401
    )


def test_manager_cannot_grant_admin_or_place_users_outside_tree(client, admin_headers, make_user):
    from crm_core.auth.models import Role
    from crm_core.permissions.models import Grant

    north = dept(client, admin_headers, "north")
    south = dept(client, admin_headers, "south")
    role = Role.create(name="hr")
    for resource, action in (
        ("users", "read"),
        ("users", "create"),
        ("users", "update"),
        ("roles", "read"),
        ("roles", "update"),
    ):
        Grant.create(role=role, resource=resource, action=action, scope="department_tree")
    # hr hands out only roles whose every grant it holds itself (tests/test_escalation.py)
    Grant.create(role=Role.create(name="colleague"), resource="users", action="read", scope="department")
    _h, hr = make_user("hr_north", roles=("hr",), department_id=north["id"])
    r = client.post(
        "/api/v1/users",
        json={"username": "n0", "password": "Passw0rd-1", "department_id": north["id"], "roles": ["sales"]},
        headers=hr,
    )
    assert r.status_code == 403 and "roles" in r.get_json()["errors"]
    ok = client.post(
        "/api/v1/users",
        json={
            "username": "n1",
            "password": "Passw0rd-1",
            "department_id": north["id"],
            "roles": ["colleague"],
        },
        headers=hr,
    )
    assert ok.status_code == 201, ok.get_json()
    r = client.post(
        "/api/v1/users",
        json={"username": "s1", "password": "Passw0rd-1", "department_id": south["id"]},
        headers=hr,
    )
    assert r.status_code == 403 and "department_id" in r.get_json()["errors"]
    r = client.patch(f"/api/v1/users/{ok.get_json()['id']}", json={"roles": ["admin"]}, headers=hr)
    assert r.status_code == 403
