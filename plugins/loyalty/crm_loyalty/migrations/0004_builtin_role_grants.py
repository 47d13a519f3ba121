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

import datetime

import peewee as pw

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
    class Base(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            legacy_table_names = False

    class Role(Base):
        name = pw.CharField(max_length=80, unique=True)
        builtin = pw.BooleanField(default=False)

        class Meta:
            table_name = "role"

    class Grant(Base):
        role = pw.ForeignKeyField(Role, on_delete="CASCADE")
        resource = pw.CharField(max_length=120)
        action = pw.CharField(max_length=60)
        scope = pw.CharField(max_length=20, default="all")

        class Meta:
            table_name = "permission_grant"

    now = datetime.datetime.utcnow()
    for role in Role.select().where(Role.name.in_(list(GRANTS)), Role.builtin == True):  # noqa: E712
        have = set(Grant.select(Grant.resource, Grant.action).where(Grant.role == role).tuples())
        rows = [
            {"role": role.id, "resource": r, "action": a, "scope": s, "created_at": now, "updated_at": now}
            for r, a, s in GRANTS[role.name]
            if (r, a) not in have
        ]
        if rows:
            Grant.insert_many(rows).execute()
