"""The built-in roles get the loyalty grants their work needs, so a sales rep can enrol their own
customers and redeem their points out of the box (until now only admins could open the screens):

- ``manager``: members and points of their department tree (enrol, change, redeem, adjust), and
  the programme's set-up to read;
- ``sales``: members and points of their department to read; enrol and change their own members,
  redeem their own members' points; the set-up to read;
- ``service``: members and points of their department to read, redemptions for them;
- ``readonly``: everything of the programme to read.

Only roles still marked built-in are touched, and only grants they do not have yet (a role an
admin changed keeps what the admin gave it). Tiers, rules and programme settings stay admin-only
to change.
"""

from crm_core.plugin_api import seed_builtin_grants

SETUP = ("loyalty.tiers", "loyalty.rules", "loyalty.program")
GRANTS = {
    "manager": [
        *[("loyalty.members", a, "department_tree") for a in ("read", "create", "update", "export")],
        *[("loyalty.points", a, "department_tree") for a in ("read", "redeem", "adjust")],
        *[("loyalty.activities", a, "department_tree") for a in ("read", "create")],
        *[(r, "read", "all") for r in SETUP],
    ],
    "sales": [
        ("loyalty.members", "read", "department"),
        ("loyalty.members", "create", "own"),
        ("loyalty.members", "update", "own"),
        ("loyalty.points", "read", "department"),
        ("loyalty.points", "redeem", "own"),
        *[(r, "read", "all") for r in SETUP],
    ],
    "service": [
        ("loyalty.members", "read", "department"),
        ("loyalty.points", "read", "department"),
        ("loyalty.points", "redeem", "department"),
        *[(r, "read", "all") for r in SETUP],
    ],
    "readonly": [
        (r, "read", "all") for r in ("loyalty.members", "loyalty.points", "loyalty.activities", *SETUP)
    ],
}


def up(migrator, db):
    seed_builtin_grants(db, GRANTS)
