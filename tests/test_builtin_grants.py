"""``seed_builtin_grants``: how a plugin's migration gives the built-in roles its grants."""

from crm_core.plugin_api import seed_builtin_grants

GRANTS = {
    "admin": [("jobs", "read", "own")],
    "sales": [("jobs", "read", "department"), ("jobs", "run", "own")],
    "readonly": [("jobs", "read", "all")],
}


def _grants(client, headers, role):
    roles = {r["name"]: r for r in client.get("/api/v1/roles?page_size=200", headers=headers).get_json()}
    return {(g["resource"], g["action"], g["scope"]) for g in roles[role]["grants"]}


def test_built_in_roles_get_the_grants_once_and_admins_changes_stay(client, admin_headers, db):
    roles = {r["name"]: r for r in client.get("/api/v1/roles", headers=admin_headers).get_json()}
    # an admin already gave sales a wider read: seeding must not add a second one or narrow it
    sales = roles["sales"]
    grants = [{k: g[k] for k in ("resource", "action", "scope")} for g in sales["grants"]]
    grants.append({"resource": "jobs", "action": "read", "scope": "all"})
    r = client.patch(f"/api/v1/roles/{sales['id']}", json={"grants": grants}, headers=admin_headers)
    assert r.status_code == 200, r.get_json()

    assert seed_builtin_grants(db, GRANTS) == 2  # sales' run, readonly's read; not admin
    assert seed_builtin_grants(db, GRANTS) == 0

    sales_grants = _grants(client, admin_headers, "sales")
    assert ("jobs", "read", "all") in sales_grants
    assert ("jobs", "read", "department") not in sales_grants
    assert ("jobs", "run", "own") in sales_grants
    assert ("jobs", "read", "all") in _grants(client, admin_headers, "readonly")
    assert not any(g[0] == "jobs" for g in _grants(client, admin_headers, "admin"))
