"""The built-in roles and their default grants (seeded by migration 0001, restorable by
``crm roles reset-builtin``). Roles are data: an admin can change any of these except ``admin``."""

from __future__ import annotations

import datetime as dt

import peewee as pw

BUSINESS = (
    "customers",
    "companies",
    "contacts",
    "deals",
    "activities",
    "tickets",
    "tags",
    "segments",
    "objects.*",
)
CRUD = ("read", "create", "update", "delete")

BUILTIN_LABELS = {
    "admin": "Administrator",
    "manager": "Manager",
    "sales": "Sales",
    "service": "Customer service",
    "readonly": "Read only",
}


def _grants(resources, actions, scope):
    return [(r, a, scope) for r in resources for a in actions]


BUILTIN_GRANTS: dict[str, list[tuple[str, str, str]]] = {
    # everything, everywhere, including every plugin resource and action
    "admin": [("*", "*", "all")],
    # runs a branch: everything in their department and the departments below it
    "manager": [
        *_grants(BUSINESS, (*CRUD, "export"), "department_tree"),
        *_grants(("users",), ("read",), "department_tree"),
        *_grants(("departments", "roles"), ("read",), "all"),
        *_grants(("audit",), ("read",), "department_tree"),
    ],
    # sees their department's customers and pipeline, changes only what they own
    "sales": [
        *_grants(("customers", "companies", "contacts", "deals", "activities"), ("read",), "department"),
        *_grants(
            ("customers", "companies", "contacts", "deals", "activities"),
            ("create", "update", "delete"),
            "own",
        ),
        *_grants(("customers", "deals"), ("export",), "own"),
        *_grants(("tickets",), ("read",), "own"),
        *_grants(("tags", "segments", "departments"), ("read",), "all"),
        *_grants(("users",), ("read",), "department"),
    ],
    # customer service: tickets and contact history of their department
    "service": [
        *_grants(("tickets", "activities"), ("read", "create", "update"), "department"),
        *_grants(("customers",), ("read", "update"), "department"),
        *_grants(("companies", "contacts"), ("read",), "department"),
        *_grants(("tags", "departments"), ("read",), "all"),
        *_grants(("users",), ("read",), "department"),
    ],
    # reads every business record, changes nothing, exports nothing
    "readonly": [
        *_grants(BUSINESS, ("read",), "all"),
        *_grants(("departments",), ("read",), "all"),
    ],
}


def seed_builtin_grants(db, grants: dict[str, list[tuple[str, str, str]]]) -> int:
    """Give the built-in roles a plugin's grants, from one of the plugin's migrations:
    ``seed_builtin_grants(db, {"sales": [("warranty.claims", "read", "department")], ...})``.

    Only roles still marked built-in are touched, only (resource, action) pairs a role does not
    have yet are added, ``admin`` (which has everything) never, and nothing is deleted: a role an
    admin changed keeps what the admin gave it, and a second run changes nothing. Works on the
    tables themselves (``role``, ``permission_grant``), not on the ORM models, so a migration
    written today runs the same against later versions. Returns how many grants were added."""
    role = pw.Table("role", ("id", "name", "builtin")).bind(db)
    grant = pw.Table(
        "permission_grant", ("id", "role_id", "resource", "action", "scope", "created_at", "updated_at")
    ).bind(db)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    wanted = {name: rows for name, rows in grants.items() if name != "admin"}
    added = 0
    for role_id, name in (
        role.select(role.id, role.name)
        .where(
            role.name.in_(list(wanted)),
            role.builtin == True,  # noqa: E712  (SQL, not Python truth)
        )
        .tuples()
    ):
        have = set(grant.select(grant.resource, grant.action).where(grant.role_id == role_id).tuples())
        rows = [
            {"role_id": role_id, "resource": r, "action": a, "scope": s, "created_at": now, "updated_at": now}
            for r, a, s in wanted[name]
            if (r, a) not in have
        ]
        if rows:
            grant.insert(rows).execute()
            added += len(rows)
    return added
