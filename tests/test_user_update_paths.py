"""One user update, two ways in: ``PATCH /api/v1/users/<id>`` and the workbench's user page both
go through ``crm_core.directory.users.update_user`` (and creating a user, ``POST /api/v1/users``
and the users page, through ``add_user``), so the same change gives the same result and the same
refusal (status, message, per-field messages) through either."""

from __future__ import annotations

import pytest
from markupsafe import escape

from crm_core.auth.models import Role, User, UserRole
from crm_core.browser_testing import post_form, web_login
from crm_core.testing import TEST_PASSWORD

API = "/api/v1"

#: A user administrator of one branch: creates and changes users, hands out roles, holds nothing else.
USER_ADMIN_GRANTS = [
    {"resource": "users", "action": "read", "scope": "department_tree"},
    {"resource": "users", "action": "update", "scope": "department_tree"},
    {"resource": "users", "action": "create", "scope": "department_tree"},
    {"resource": "roles", "action": "read", "scope": "all"},
    {"resource": "roles", "action": "update", "scope": "all"},
    {"resource": "departments", "action": "read", "scope": "all"},
]


@pytest.fixture
def world(app, make_user):
    """Departments Branch > Team and Elsewhere; ``boss`` (admin, Branch), ``head`` (user admin
    of Branch) and two identical employees in Team without roles, one changed through each path."""
    _, admin = make_user("boss", roles=("admin",))
    api = app.test_client()

    def post(path, body):
        r = api.post(f"{API}{path}", json=body, headers=admin)
        assert r.status_code == 201, r.get_json()
        return r.get_json()["id"]

    branch = post("/departments", {"name": "Branch"})
    team = post("/departments", {"name": "Team", "parent_id": branch})
    elsewhere = post("/departments", {"name": "Elsewhere"})
    post("/roles", {"name": "user_admin", "grants": USER_ADMIN_GRANTS})
    User.update(department=branch).where(User.username == "boss").execute()
    _, head = make_user("head", roles=("user_admin",), department_id=branch)
    employees = {
        path: make_user(f"emp_{path}", roles=(), department_id=team, name="Emp")[0].id
        for path in ("api", "web")
    }
    return {"elsewhere": elsewhere, "employees": employees, "tokens": {"boss": admin, "head": head}}


def state(user_id) -> dict:
    """What a change can leave behind on a user (``updated_at`` as stored)."""
    user = User.get_by_id(user_id)
    roles = sorted(r.name for r in Role.select().join(UserRole).where(UserRole.user == user))
    return {
        "name": user.name,
        "email": user.email,
        "department_id": user.department_id,
        "is_active": user.is_active,
        "roles": roles,
        "updated_at": user.updated_at,
    }


def through_api(app, headers, user_id, changes):
    """PATCH ``changes`` with ``headers``; (status, error body or None)."""
    r = app.test_client().patch(f"{API}/users/{user_id}", json=changes, headers=headers)
    return r.status_code, (None if r.status_code == 200 else r.get_json())


def through_form(app, actor, user_id, changes):
    """Post the user page's form as ``actor``: every input as stored, ``changes`` over them;
    (status, page)."""
    client = app.test_client()
    assert web_login(client, actor).status_code == 302
    stored = state(user_id)
    values = {**stored, **changes}
    form = {
        "name": values["name"],
        "email": values["email"] or "",
        "department_id": "" if values["department_id"] is None else str(values["department_id"]),
        "roles": values["roles"],
    }
    if values["is_active"]:
        form["is_active"] = "on"
    r = post_form(client, f"/admin/users/{user_id}", form)
    return r.status_code, r.get_data(as_text=True)


def _target(world, who, path):
    """The user a case changes: the actor itself, or this path's employee."""
    if who == "self":
        return User.get(User.username == "boss").id
    return world["employees"][path]


CASES = [
    # (id, actor, target, changes: a callable of the world, expected status)
    ("own_admin_role_removed", "boss", "self", lambda w: {"roles": []}, 409),
    ("self_deactivation", "boss", "self", lambda w: {"is_active": False}, 409),
    ("unknown_department", "boss", "employee", lambda w: {"department_id": 999_999}, 422),
    ("department_outside_scope", "head", "employee", lambda w: {"department_id": w["elsewhere"]}, 403),
    ("role_above_caller", "head", "employee", lambda w: {"roles": ["manager"]}, 403),
    ("admin_role_by_non_admin", "head", "employee", lambda w: {"roles": ["admin"]}, 403),
    ("updated_at_set", "boss", "employee", lambda w: {"name": "Renamed", "roles": ["sales"]}, 200),
]


@pytest.mark.parametrize(
    ("actor", "who", "changes", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_api_and_the_form_apply_the_same_rules(app, world, actor, who, changes, expected):
    changes = changes(world)
    api_user, web_user = _target(world, who, "api"), _target(world, who, "web")
    api_before, web_before = state(api_user), state(web_user)

    api_status, error = through_api(app, world["tokens"][actor], api_user, changes)
    web_status, page = through_form(app, actor, web_user, changes)
    api_after, web_after = state(api_user), state(web_user)

    assert api_status == expected, error
    if expected == 200:
        assert web_status == 302, "the form redirects after saving"
        for key, value in changes.items():
            assert api_after[key] == web_after[key] == value
        assert api_after["updated_at"] > api_before["updated_at"]
        assert web_after["updated_at"] > web_before["updated_at"]
        assert {**api_after, "updated_at": None} == {**web_after, "updated_at": None}
        return
    assert web_status == api_status
    assert (api_after, web_after) == (api_before, web_before), "a refusal writes nothing"
    messages = [m for msgs in error["errors"].values() for m in msgs]
    if api_status != 422:  # the API's error body names the fields of a 422 instead (crm_core.errors)
        messages.append(error["message"])
    assert messages
    for message in messages:
        assert str(escape(message)) in page, f"{message!r} is not on the page ({error})"


def test_a_refusal_reads_in_the_users_language_on_both_paths(app, world):
    boss = User.get(User.username == "boss").id
    client = app.test_client()
    assert web_login(client, "boss").status_code == 302
    post_form(client, "/language", {"language": "zh_CN", "next": "/"}, page="/")
    form = {"name": "", "email": "", "department_id": "", "roles": ["admin"]}  # is_active unticked
    r = post_form(client, f"/admin/users/{boss}", form)
    assert r.status_code == 409 and "您不能停用自己。" in r.get_data(as_text=True)
    r = app.test_client().patch(
        f"{API}/users/{boss}",
        json={"is_active": False},
        headers={**world["tokens"]["boss"], "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 409 and r.get_json()["message"] == "您不能停用自己。"


CREATE_CASES = [
    # (id, actor, extra fields: a callable of the world, expected status)
    ("created", "boss", lambda w: {"name": "New", "roles": ["sales"]}, 201),
    ("department_outside_scope", "head", lambda w: {"department_id": w["elsewhere"]}, 403),
    ("admin_role_by_non_admin", "head", lambda w: {"roles": ["admin"]}, 403),
    ("unknown_department", "boss", lambda w: {"department_id": 999_999}, 422),
]


@pytest.mark.parametrize(
    ("actor", "extra", "expected"),
    [case[1:] for case in CREATE_CASES],
    ids=[case[0] for case in CREATE_CASES],
)
def test_creating_a_user_follows_the_same_rules_on_both_paths(app, world, actor, extra, expected):
    extra = extra(world)
    department = extra.get("department_id", User.get(User.username == "head").department_id)
    body = {"password": TEST_PASSWORD, "department_id": department, "roles": [], **extra}
    r = app.test_client().post(
        f"{API}/users", json={**body, "username": "new_api"}, headers=world["tokens"][actor]
    )
    assert r.status_code == expected, r.get_json()
    client = app.test_client()
    assert web_login(client, actor).status_code == 302
    form = {**body, "username": "new_web", "department_id": str(department)}
    page = post_form(client, "/admin/users", form)
    if expected == 201:
        assert page.status_code == 302
        made = {name: state(User.get(User.username == name).id) for name in ("new_api", "new_web")}
        assert {**made["new_api"], "updated_at": None} == {**made["new_web"], "updated_at": None}
        return
    assert page.status_code == expected
    assert not User.select().where(User.username.in_(["new_api", "new_web"])).exists()
    error = r.get_json()
    messages = [m for msgs in error["errors"].values() for m in msgs]
    if expected != 422:  # the API's error body names the fields of a 422 instead (crm_core.errors)
        messages.append(error["message"])
    for message in messages:
        assert str(escape(message)) in page.get_data(as_text=True), f"{message!r} is not on the page"
