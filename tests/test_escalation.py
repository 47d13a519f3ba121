"""No privilege escalation (issue 13), through the public HTTP API and the workbench forms, on
SQLite and PostgreSQL: nobody grants or assigns a scope, action or field they do not hold
themselves, only administrators change administrators, nobody changes a more privileged user,
and an OAuth client acts only for a user (and with scopes) its creator covers."""

from __future__ import annotations

import re

from crm_core.browser_testing import post_form, web_login
from crm_core.testing import TEST_PASSWORD


def grant(resource, action, scope="all"):
    return {"resource": resource, "action": action, "scope": scope}


def make_role(client, admin_headers, name, grants, field_rules=()):
    r = client.post(
        "/api/v1/roles",
        json={"name": name, "grants": list(grants), "field_rules": list(field_rules)},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def role_named(client, headers, name):
    roles = client.get("/api/v1/roles?page_size=100", headers=headers).get_json()
    return next(r for r in roles if r["name"] == name)


def login(client, username, password=TEST_PASSWORD):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


# --- the case seen in issue 13 -------------------------------------------------------------------


def test_a_role_keeper_cannot_make_itself_admin_nor_take_over_the_admin(client, make_user, admin_headers):
    """A role granting only ``roles:update`` (and the ``roles:read`` needed to find a role)
    raised itself to ``*:*:all``, reset the admin's password and made an OAuth client acting as
    the admin. Each step is refused now."""
    admin, _ = make_user("the_admin")
    keeper_role = make_role(
        client, admin_headers, "keeper", [grant("roles", "read"), grant("roles", "update")]
    )
    _k, keeper = make_user("keeper_user", roles=("keeper",))

    r = client.patch(f"/api/v1/roles/{keeper_role['id']}", json={"grants": [grant("*", "*")]}, headers=keeper)
    assert r.status_code == 403, r.get_json()
    problems = r.get_json()["errors"]["grants"]
    assert any(p.startswith("*:*:all") for p in problems), problems
    assert role_named(client, admin_headers, "keeper")["grants"] == keeper_role["grants"]
    # nor piece by piece
    for wanted in (grant("users", "update"), grant("oauth_clients", "create"), grant("roles", "delete")):
        body = {"grants": [*keeper_role["grants"], wanted]}
        r = client.patch(f"/api/v1/roles/{keeper_role['id']}", json=body, headers=keeper)
        assert r.status_code == 403, (wanted, r.get_json())
        assert r.get_json()["errors"]["grants"] == [
            f"{wanted['resource']}:{wanted['action']}:all: you do not hold "
            f"{wanted['resource']}:{wanted['action']} yourself."
        ]
    # the keeper still cannot touch the admin
    r = client.patch(f"/api/v1/users/{admin.id}", json={"password": "Taken-0ver-pass!"}, headers=keeper)
    assert r.status_code == 403
    assert login(client, "the_admin").status_code == 200
    r = client.post(
        "/api/v1/oauth-clients",
        json={"name": "backdoor", "user_id": admin.id, "scopes": ["users:update"]},
        headers=keeper,
    )
    assert r.status_code == 403
    assert client.get("/api/v1/oauth-clients", headers=admin_headers).get_json() == []


def test_users_manager_cannot_reset_the_admins_password(client, make_user, admin_headers):
    """Even holding ``users:update`` everywhere, only an administrator resets an administrator."""
    admin, _ = make_user("the_admin")
    make_role(client, admin_headers, "helpdesk", [grant("users", a) for a in ("read", "update", "delete")])
    _h, helpdesk = make_user("helpdesk_user", roles=("helpdesk",))
    for body in ({"password": "Taken-0ver-pass!"}, {"name": "Nobody"}, {"is_active": False}):
        r = client.patch(f"/api/v1/users/{admin.id}", json=body, headers=helpdesk)
        assert r.status_code == 403, (body, r.get_json())
        assert r.get_json()["errors"]["user"], r.get_json()
    assert client.delete(f"/api/v1/users/{admin.id}", headers=helpdesk).status_code == 403
    assert login(client, "the_admin").status_code == 200
    again = client.get(f"/api/v1/users/{admin.id}", headers=admin_headers).get_json()
    assert again["is_active"] is True and again["name"] == "the_admin"


def test_a_non_admin_superuser_still_cannot_touch_admins(client, make_user, admin_headers):
    """A custom role with ``*:*:all`` holds every grant, but the admin role stays the admins'."""
    admin, _ = make_user("the_admin")
    make_role(client, admin_headers, "almighty", [grant("*", "*")])
    _s, almighty = make_user("almighty_user", roles=("almighty",))
    r = client.patch(f"/api/v1/users/{admin.id}", json={"password": "Taken-0ver-pass!"}, headers=almighty)
    assert r.status_code == 403 and "admin" in " ".join(r.get_json()["errors"]["user"])
    r = client.post(
        "/api/v1/users",
        json={"username": "new_admin", "password": "Passw0rd-1!", "roles": ["admin"]},
        headers=almighty,
    )
    assert r.status_code == 403 and "roles" in r.get_json()["errors"]
    r = client.post(
        "/api/v1/oauth-clients",
        json={"name": "x", "user_id": admin.id, "scopes": ["customers:read"]},
        headers=almighty,
    )
    assert r.status_code == 403 and "user_id" in r.get_json()["errors"]
    # everyone else it may manage
    sales, _ = make_user("seller", roles=("sales",))
    r = client.patch(f"/api/v1/users/{sales.id}", json={"password": "Fresh-passw0rd!"}, headers=almighty)
    assert r.status_code == 200


# --- roles: grants and field rules ---------------------------------------------------------------


def test_grants_are_given_only_as_widely_as_held(client, make_user, admin_headers):
    make_role(
        client,
        admin_headers,
        "designer",
        [
            grant("roles", "read"),
            grant("roles", "create"),
            grant("roles", "update"),
            grant("customers", "read", "department"),
            grant("customers", "update", "own"),
        ],
    )
    _d, designer = make_user("designer_user", roles=("designer",))
    ok = client.post(
        "/api/v1/roles",
        json={
            "name": "junior",
            "grants": [grant("customers", "read", "own")],
        },
        headers=designer,
    )
    assert ok.status_code == 201, ok.get_json()
    for bad, offending in [
        ([grant("customers", "read", "all")], "customers:read:all"),
        ([grant("customers", "read", "department_tree")], "customers:read:department_tree"),
        ([grant("customers", "update", "department")], "customers:update:department"),
        ([grant("customers", "export", "own")], "customers:export:own"),
        ([grant("customers", "*", "own")], "customers:*:own"),
        ([grant("*", "read", "own")], "*:read:own"),
        ([grant("objects.*", "read", "own")], "objects.*:read:own"),
        ([grant("deals", "read", "own"), grant("customers", "read", "own")], "deals:read:own"),
    ]:
        r = client.post("/api/v1/roles", json={"name": "sneaky", "grants": bad}, headers=designer)
        assert r.status_code == 403, (bad, r.get_json())
        body = r.get_json()
        assert [p.split(":", 3)[:3] for p in body["errors"]["grants"]] == [offending.split(":")], body
        assert len(body["errors"]["grants"]) == 1, body  # the covered grant is not named
        r = client.patch(f"/api/v1/roles/{ok.get_json()['id']}", json={"grants": bad}, headers=designer)
        assert r.status_code == 403, (bad, r.get_json())
    assert role_named(client, admin_headers, "junior")["grants"] == [grant("customers", "read", "own")]
    assert all(r["name"] != "sneaky" for r in client.get("/api/v1/roles", headers=admin_headers).get_json())


def test_roles_granting_more_than_the_editor_cannot_be_changed_or_deleted(client, make_user, admin_headers):
    make_role(
        client,
        admin_headers,
        "designer",
        [grant("roles", a) for a in ("read", "create", "update", "delete")],
    )
    strong = make_role(client, admin_headers, "strong", [grant("customers", "delete")])
    weak = make_role(client, admin_headers, "weak", [grant("roles", "read", "own")])
    _d, designer = make_user("designer_user", roles=("designer",))
    manager = role_named(client, admin_headers, "manager")
    for role in (manager, strong):
        r = client.patch(f"/api/v1/roles/{role['id']}", json={"label": "mine"}, headers=designer)
        assert r.status_code == 403 and r.get_json()["errors"]["grants"], r.get_json()
        r = client.patch(f"/api/v1/roles/{role['id']}", json={"grants": []}, headers=designer)
        assert r.status_code == 403
    assert client.delete(f"/api/v1/roles/{strong['id']}", headers=designer).status_code == 403
    assert role_named(client, admin_headers, "strong")["grants"] == [grant("customers", "delete")]
    assert role_named(client, admin_headers, "manager")["grants"] == manager["grants"]
    r = client.patch(f"/api/v1/roles/{weak['id']}", json={"label": "Weak one"}, headers=designer)
    assert r.status_code == 200
    assert client.delete(f"/api/v1/roles/{weak['id']}", headers=designer).status_code == 204


def test_field_rules_the_editor_is_subject_to_cannot_be_dropped(client, make_user, admin_headers):
    designer_role = make_role(
        client,
        admin_headers,
        "designer",
        [grant("roles", a) for a in ("read", "create", "update")] + [grant("customers", "read")],
        [
            {"resource": "customers", "field": "phone", "rule": "hidden"},
            {"resource": "customers", "field": "email", "rule": "read-only"},
        ],
    )
    _d, designer = make_user("designer_user", roles=("designer",))
    strict = [
        {"resource": "customers", "field": "email", "rule": "hidden"},
        {"resource": "customers", "field": "phone", "rule": "hidden"},
    ]
    r = client.post(
        "/api/v1/roles",
        json={"name": "viewer", "grants": [grant("customers", "read")], "field_rules": strict},
        headers=designer,
    )
    assert r.status_code == 201, r.get_json()
    viewer = r.get_json()
    # a role on other resources needs none of the editor's customer rules
    r = client.post(
        "/api/v1/roles", json={"name": "role_reader", "grants": [grant("roles", "read")]}, headers=designer
    )
    assert r.status_code == 201, r.get_json()
    for rules, offending in [
        ([], {"customers.phone", "customers.email"}),
        ([strict[1]], {"customers.email"}),
        ([{"resource": "customers", "field": "phone", "rule": "read-only"}, strict[0]], {"customers.phone"}),
    ]:
        for r in (
            client.post(
                "/api/v1/roles",
                json={"name": "peeker", "grants": [grant("customers", "read")], "field_rules": rules},
                headers=designer,
            ),
            client.patch(f"/api/v1/roles/{viewer['id']}", json={"field_rules": rules}, headers=designer),
        ):
            assert r.status_code == 403, (rules, r.get_json())
            named = {p.split(":")[0] for p in r.get_json()["errors"]["field_rules"]}
            assert named == offending, r.get_json()
    # nor on its own role: dropping its own hidden rule would show it the phone numbers
    r = client.patch(
        f"/api/v1/roles/{designer_role['id']}", json={"field_rules": [strict[0]]}, headers=designer
    )
    assert r.status_code == 403 and r.get_json()["errors"]["field_rules"]
    assert role_named(client, admin_headers, "viewer")["field_rules"] == strict
    # tightening is fine
    r = client.patch(
        f"/api/v1/roles/{viewer['id']}",
        json={"field_rules": [*strict, {"resource": "customers", "field": "name", "rule": "read-only"}]},
        headers=designer,
    )
    assert r.status_code == 200, r.get_json()


# --- users: assigning roles ----------------------------------------------------------------------


def test_roles_are_assigned_only_by_someone_holding_all_their_grants(client, make_user, admin_headers):
    make_role(
        client,
        admin_headers,
        "hr",
        [grant("users", a) for a in ("read", "create", "update")]
        + [grant("roles", "read"), grant("roles", "update"), grant("customers", "read", "department")],
    )
    make_role(client, admin_headers, "browser", [grant("customers", "read", "own")])
    _h, hr = make_user("hr_user", roles=("hr",))
    r = client.post(
        "/api/v1/users",
        json={"username": "newbie", "password": "Passw0rd-1!", "roles": ["browser"]},
        headers=hr,
    )
    assert r.status_code == 201, r.get_json()
    newbie = r.get_json()
    for roles in (["sales"], ["browser", "manager"], ["admin"]):
        r = client.post(
            "/api/v1/users",
            json={"username": "other", "password": "Passw0rd-1!", "roles": roles},
            headers=hr,
        )
        assert r.status_code == 403, (roles, r.get_json())
        assert r.get_json()["errors"]["roles"], r.get_json()
        r = client.patch(f"/api/v1/users/{newbie['id']}", json={"roles": roles}, headers=hr)
        assert r.status_code == 403, (roles, r.get_json())
        assert r.get_json()["errors"]["roles"], r.get_json()
    sales_problems = client.patch(
        f"/api/v1/users/{newbie['id']}", json={"roles": ["sales"]}, headers=hr
    ).get_json()["errors"]["roles"]
    assert any("customers:create:own" in p for p in sales_problems), sales_problems
    assert client.get(f"/api/v1/users/{newbie['id']}", headers=admin_headers).get_json()["roles"] == [
        "browser"
    ]
    # nor hand itself more
    me = client.get("/api/v1/users/me", headers=hr).get_json()
    r = client.patch(f"/api/v1/users/{me['id']}", json={"roles": ["hr", "manager"]}, headers=hr)
    assert r.status_code == 403
    # and a user who holds more than hr (a manager) is out of its reach
    boss, _ = make_user("boss", roles=("manager",))
    for body in ({"name": "x"}, {"password": "Fresh-passw0rd!"}, {"roles": ["browser"]}):
        r = client.patch(f"/api/v1/users/{boss.id}", json=body, headers=hr)
        assert r.status_code == 403 and r.get_json()["errors"]["user"], r.get_json()


# --- OAuth clients ---------------------------------------------------------------------------------


def test_oauth_clients_act_only_for_covered_users_with_covered_scopes(client, make_user, admin_headers):
    make_role(
        client,
        admin_headers,
        "integrator",
        [
            grant("oauth_clients", "read"),
            grant("oauth_clients", "create"),
            grant("users", "read"),
            grant("customers", "read", "department"),
        ],
    )
    make_role(client, admin_headers, "browser", [grant("customers", "read", "own")])
    me, integrator = make_user("integrator_user", roles=("integrator",))
    bot, _ = make_user("bot", roles=("browser",))
    boss, _ = make_user("boss", roles=("manager",))

    def create(user_id, scopes):
        return client.post(
            "/api/v1/oauth-clients",
            json={"name": "c", "user_id": user_id, "scopes": scopes},
            headers=integrator,
        )

    assert create(me.id, ["customers:read"]).status_code == 201
    assert create(bot.id, ["customers:read"]).status_code == 201
    r = create(boss.id, ["customers:read"])
    assert r.status_code == 403 and r.get_json()["errors"]["user_id"], r.get_json()
    for scopes, offending in [
        (["customers:write"], "customers:write"),
        (["customers:*"], "customers:*"),
        (["*:read"], "*:read"),
        (["customers:read", "deals:read"], "deals:read"),
    ]:
        r = create(me.id, scopes)
        assert r.status_code == 403, (scopes, r.get_json())
        assert [p.split(": ")[0] for p in r.get_json()["errors"]["scopes"]] == [offending]
    # malformed scopes are still a validation error
    assert create(me.id, ["nonsense"]).status_code == 422
    assert len(client.get("/api/v1/oauth-clients", headers=admin_headers).get_json()) == 2


# --- the workbench -------------------------------------------------------------------------------


def web_client(app, username):
    other = app.test_client()
    assert web_login(other, username).status_code == 302
    return other


def test_role_matrix_refuses_grants_the_editor_does_not_hold(app, client, make_user, admin_headers):
    keeper = make_role(
        client,
        admin_headers,
        "keeper",
        [grant("roles", "read"), grant("roles", "update"), grant("customers", "read", "department")],
        [{"resource": "customers", "field": "phone", "rule": "hidden"}],
    )
    make_user("keeper_user", roles=("keeper",))
    web = web_client(app, "keeper_user")
    path = f"/admin/roles/{keeper['id']}"
    same = {
        "grant:roles:read": "all",
        "grant:roles:update": "all",
        "grant:customers:read": "department",
        "rule_resource": ["customers"],
        "rule_field": ["phone"],
        "rule": ["hidden"],
    }
    for form in (
        {**same, "grant:customers:read": "all"},
        {**same, "grant:users:update": "all"},
        {**same, "rule_resource": [], "rule_field": [], "rule": []},
    ):
        r = post_form(web, path, form)
        assert r.status_code == 403, form
        assert "you" in r.get_data(as_text=True)
    assert role_named(client, admin_headers, "keeper")["grants"] == keeper["grants"]
    r = post_form(web, path, {**same, "label": "Keeper"})
    assert r.status_code == 302
    # a role that grants more than the editor is shown read-only, and refused when posted
    manager = role_named(client, admin_headers, "manager")
    html = web.get(f"/admin/roles/{manager['id']}").get_data(as_text=True)
    assert re.search(r'name="grant:customers:read" aria-label="[^"]+" disabled', html)
    r = post_form(web, f"/admin/roles/{manager['id']}", {"grant:roles:read": "all"})
    assert r.status_code == 403
    assert role_named(client, admin_headers, "manager")["grants"] == manager["grants"]


def test_user_pages_refuse_roles_and_users_beyond_the_editor(app, client, make_user, admin_headers):
    make_role(
        client,
        admin_headers,
        "hr",
        [grant("users", a) for a in ("read", "create", "update")]
        + [grant("roles", "read"), grant("roles", "update")],
    )
    make_role(client, admin_headers, "user_reader", [grant("users", "read", "own")])
    admin, _ = make_user("the_admin")
    plain, _ = make_user("plain", roles=("user_reader",))
    make_user("hr_user", roles=("hr",))
    web = web_client(app, "hr_user")
    r = post_form(web, "/admin/users", {"username": "s1", "password": "Sneaky-Passw0rd!", "roles": ["sales"]})
    assert r.status_code == 403
    r = post_form(
        web, "/admin/users", {"username": "r1", "password": "Plain-Passw0rd!", "roles": ["user_reader"]}
    )
    assert r.status_code == 302
    r = post_form(web, f"/admin/users/{plain.id}", {"name": "Plain", "roles": ["sales"], "is_active": "on"})
    assert r.status_code == 403
    r = post_form(
        web, f"/admin/users/{plain.id}", {"name": "Plain", "roles": ["user_reader"], "is_active": "on"}
    )
    assert r.status_code == 302
    # the admin's page: no save button, and a forged post is refused
    page = web.get(f"/admin/users/{admin.id}").get_data(as_text=True)
    assert "<fieldset disabled>" in page
    r = post_form(
        web,
        f"/admin/users/{admin.id}",
        {"name": "Owned", "roles": ["admin"]},
        page=f"/admin/users/{plain.id}",
    )
    assert r.status_code == 403
    again = client.get(f"/api/v1/users/{admin.id}", headers=admin_headers).get_json()
    assert again["name"] == "the_admin" and again["is_active"] is True


# --- departments: moving one under your own tree would widen every department_tree scope ---------


def test_a_branch_manager_cannot_pull_another_branch_under_its_own(client, make_user, admin_headers):
    """Found while fixing issue 13: ``departments:update`` on a subtree let a manager move another
    branch below its own and so read that branch's customers through ``department_tree``."""
    from crm_core.directory.departments import create_department

    north = create_department("north")
    north_team = create_department("north team", north.id)
    south = create_department("south")
    make_role(
        client,
        admin_headers,
        "branch",
        [
            grant("departments", "read", "department_tree"),
            grant("departments", "update", "department_tree"),
            grant("departments", "create", "department_tree"),
            grant("customers", "read", "department_tree"),
        ],
    )
    _m, manager = make_user("north_boss", roles=("branch",), department_id=north.id)
    # a department of its own tree cannot be hung under a branch it does not run, nor made a root
    r = client.patch(f"/api/v1/departments/{north_team.id}", json={"parent_id": south.id}, headers=manager)
    assert r.status_code == 403 and "parent_id" in r.get_json()["errors"]
    r = client.post("/api/v1/departments", json={"name": "rogue", "parent_id": None}, headers=manager)
    assert r.status_code == 403 and "parent_id" in r.get_json()["errors"]
    r = client.post("/api/v1/departments", json={"name": "sub", "parent_id": south.id}, headers=manager)
    assert r.status_code == 403
    # the other branch stays out of reach: 404 for it, and moving it is not possible either
    assert (
        client.patch(
            f"/api/v1/departments/{south.id}", json={"parent_id": north.id}, headers=manager
        ).status_code
        == 404
    )
    # inside its own tree it reorganises freely
    r = client.post(
        "/api/v1/departments", json={"name": "north east", "parent_id": north.id}, headers=manager
    )
    assert r.status_code == 201, r.get_json()
    r = client.patch(
        f"/api/v1/departments/{north_team.id}", json={"parent_id": r.get_json()["id"]}, headers=manager
    )
    assert r.status_code == 200, r.get_json()
