"""The built-in roles and their default grants (seeded by migration 0001, restorable by
``crm roles reset-builtin``). Roles are data: an admin can change any of these except ``admin``."""

from __future__ import annotations

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
