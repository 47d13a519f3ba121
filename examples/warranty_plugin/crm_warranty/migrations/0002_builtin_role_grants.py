"""Grants of the built-in roles on warranties, as docs/plugins.md ("Permissions and the built-in
roles") says: only roles still marked built-in, only grants they do not have yet.

- ``manager``: warranties of their department tree, all of it (claims included);
- ``sales``: their department's warranties to read; register, change and claim their own;
- ``service``: their department's warranties to read and claim (the customer calls in);
- ``readonly``: every warranty to read.
"""

from crm_core.plugin_api import seed_builtin_grants

R = "warranty.warranties"
GRANTS = {
    "manager": [(R, a, "department_tree") for a in ("read", "create", "update", "delete", "export", "claim")],
    "sales": [(R, "read", "department"), *[(R, a, "own") for a in ("create", "update", "claim")]],
    "service": [(R, "read", "department"), (R, "claim", "department")],
    "readonly": [(R, "read", "all")],
}


def up(migrator, db):
    seed_builtin_grants(db, GRANTS)
