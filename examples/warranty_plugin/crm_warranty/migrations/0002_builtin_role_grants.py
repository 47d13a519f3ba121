"""Grants of the built-in roles on warranties, as docs/plugins.md ("Permissions and the built-in
roles") says: only roles still marked built-in, only grants they do not have yet.

- ``manager``: warranties of their department tree, all of it (claims included);
- ``sales``: their department's warranties to read; register, change and claim their own;
- ``service``: their department's warranties to read and claim (the customer calls in);
- ``readonly``: every warranty to read.
"""

import datetime

import peewee as pw

R = "warranty.warranties"
GRANTS = {
    "manager": [(R, a, "department_tree") for a in ("read", "create", "update", "delete", "export", "claim")],
    "sales": [(R, "read", "department"), *[(R, a, "own") for a in ("create", "update", "claim")]],
    "service": [(R, "read", "department"), (R, "claim", "department")],
    "readonly": [(R, "read", "all")],
}


def up(migrator, db):
    class Base(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db

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

    for role in Role.select().where(Role.name.in_(list(GRANTS)), Role.builtin == True):  # noqa: E712
        have = set(Grant.select(Grant.resource, Grant.action).where(Grant.role == role).tuples())
        rows = [
            {"role": role.id, "resource": r, "action": a, "scope": s}
            for r, a, s in GRANTS[role.name]
            if (r, a) not in have
        ]
        if rows:
            Grant.insert_many(rows).execute()
