"""Grants and field rules cached across requests behind the permission revision: a right taken
away in one request is gone for the very next request of another process on the same database,
and what a request reads is shared only when it is what the database holds."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from crm_core.auth import issue_token, token_actor
from crm_core.auth.models import AccessToken, Department, Role, User, UserRole
from crm_core.custom.models import FieldDefinition
from crm_core.db import utcnow
from crm_core.permissions import effective_scope, invalidate, revision
from crm_core.permissions.models import FieldRule, Grant
from crm_core.testing import TEST_SECRET_KEY

# a second instance of the CRM in its own process (its own worker cache), answering requests
# given one per line on stdin: "METHOD PATH TOKEN" -> "STATUS JSON"
WORKER = textwrap.dedent(
    """
    import json, sys
    from crm_core.app import create_app
    app = create_app(json.loads(sys.argv[1]))
    client = app.test_client()
    print("ready", flush=True)
    for line in sys.stdin:
        method, path, token = line.split()
        r = client.open(path, method=method, headers={"Authorization": "Bearer " + token})
        print(r.status_code, json.dumps(r.get_json()), flush=True)
    """
)


@pytest.fixture
def other_process(app, tmp_path):
    config = {
        "DATABASE_URL": app.config["DATABASE_URL"],
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "INSTANCE_PATH": str(tmp_path / "other"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"

    def ask(method: str, path: str, headers: dict):
        proc.stdin.write(f"{method} {path} {headers['Authorization'].split()[1]}\n")
        proc.stdin.flush()
        status, body = proc.stdout.readline().split(" ", 1)
        return int(status), json.loads(body)

    yield ask
    proc.stdin.close()
    proc.wait(timeout=30)


def test_revoked_right_is_never_served_from_cache(client, admin_headers, make_user, other_process):
    role = {
        "name": "cache_probe",
        "grants": [{"resource": "customers", "action": "read", "scope": "all"}],
        "field_rules": [],
    }
    r = client.post("/api/v1/roles", json=role, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    role_id = r.get_json()["id"]
    client.post(
        "/api/v1/customers", json={"name": "Cached Person", "phone": "+8613800001111"}, headers=admin_headers
    )
    _, headers = make_user(roles=["cache_probe"])

    for _ in range(2):  # the second answer comes from the other worker's cache
        status, body = other_process("GET", "/api/v1/customers", headers)
        assert status == 200 and body[0]["phone"] == "+8613800001111"

    # a field rule added here: the other worker's very next request hides the field
    patch = {"field_rules": [{"resource": "customers", "field": "phone", "rule": "hidden"}]}
    assert client.patch(f"/api/v1/roles/{role_id}", json=patch, headers=admin_headers).status_code == 200
    status, body = other_process("GET", "/api/v1/customers", headers)
    assert status == 200 and "phone" not in body[0]

    # the grant revoked: refused at once
    assert (
        client.patch(f"/api/v1/roles/{role_id}", json={"grants": []}, headers=admin_headers).status_code
        == 200
    )
    assert other_process("GET", "/api/v1/customers", headers)[0] == 403
    # and here too, though this worker cached the grant when it served the role's user before
    assert client.get("/api/v1/customers", headers=headers).status_code == 403


def test_every_permission_table_bumps_the_revision(app, db, make_user):
    user, _ = make_user(roles=["sales"])
    seen = [revision.current()]

    def changed():
        now = revision.current()
        assert now[0] > seen[-1][0] and now[1] != seen[-1][1]
        seen.append(now)

    dept = Department.create(name="Cache East", path="/")
    changed()
    Department.update(path=f"/{dept.id}/").where(Department.id == dept.id).execute()
    changed()
    role = Role.create(name="cache_bump", label="x")
    changed()
    Grant.create(role=role, resource="customers", action="read", scope="own")
    changed()
    FieldRule.create(role=role, resource="customers", field="phone", rule="masked")
    changed()
    UserRole.create(user=user.id, role=role)
    changed()
    User.update(department=dept.id).where(User.id == user.id).execute()
    changed()
    FieldDefinition.create(entity="customers", name="cache_probe", type="text")
    changed()
    Grant.delete().where(Grant.role == role).execute()
    changed()
    # what a bearer token resolves to (crm_core.auth.token_cache): the user, the token itself
    User.update(name="Someone Else").where(User.id == user.id).execute()
    changed()
    raw, token = issue_token(User.get_by_id(user.id))  # a new token changes nothing kept
    assert revision.current() == seen[-1]
    AccessToken.update(last_used_at=utcnow()).where(AccessToken.id == token.id).execute()
    assert revision.current() == seen[-1]  # nor does its use
    AccessToken.update(revoked_at=utcnow()).where(AccessToken.id == token.id).execute()
    changed()
    AccessToken.delete().where(AccessToken.id == token.id).execute()
    changed()


def test_a_change_rolled_back_leaves_nothing_shared(app, db, make_user):
    user, headers = make_user(roles=["readonly"])
    role = Role.get(Role.name == "readonly")
    # each in an app context of its own, as requests are (``g`` belongs to the app context)
    with app.app_context(), app.test_request_context("/"):
        actor = token_actor(headers["Authorization"].split()[1])
        before = effective_scope(actor, "customers", "delete")
        with pytest.raises(RuntimeError), db.atomic():
            Grant.create(role=role, resource="customers", action="delete", scope="all")
            invalidate()
            assert effective_scope(actor, "customers", "delete") == "all"
            raise RuntimeError("rolled back")
    with app.app_context(), app.test_request_context("/"):
        assert effective_scope(actor, "customers", "delete") == before


def test_a_field_defined_here_is_in_the_other_workers_next_answer(client, admin_headers, other_process):
    _, first = other_process("GET", "/api/v1/fields/customers", admin_headers)
    assert "cache_stamp" not in [f["name"] for f in first]
    spec = {"name": "cache_stamp", "type": "string", "label": {"en": "Stamp"}}
    assert client.post("/api/v1/fields/customers", json=spec, headers=admin_headers).status_code == 201
    status, listed = other_process("GET", "/api/v1/fields/customers", admin_headers)
    assert status == 200 and "cache_stamp" in [f["name"] for f in listed]


def test_a_token_resolved_by_another_worker_is_refused_once_revoked(
    client, admin_headers, make_user, other_process
):
    user, headers = make_user(roles=["sales"])
    for _ in range(2):  # the second answer comes from the other worker's kept token
        status, body = other_process("GET", "/api/v1/users/me", headers)
        assert status == 200 and body["name"] == user.name
    # the user renamed here: the other worker's very next answer carries the new name
    r = client.patch(f"/api/v1/users/{user.id}", json={"name": "Renamed Person"}, headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    assert other_process("GET", "/api/v1/users/me", headers)[1]["name"] == "Renamed Person"
    # deactivated here: refused there at once
    r = client.patch(f"/api/v1/users/{user.id}", json={"is_active": False}, headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    assert other_process("GET", "/api/v1/users/me", headers)[0] == 401


def test_a_personal_token_revoked_here_is_refused_there(client, make_user, other_process):
    _, headers = make_user(roles=["sales"])
    r = client.post("/api/v1/auth/tokens", json={"name": "script"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    personal = {"Authorization": f"Bearer {made['token']}"}
    assert [other_process("GET", "/api/v1/users/me", personal)[0] for _ in range(2)] == [200, 200]
    assert client.delete(f"/api/v1/auth/tokens/{made['id']}", headers=headers).status_code == 204
    assert other_process("GET", "/api/v1/users/me", personal)[0] == 401
