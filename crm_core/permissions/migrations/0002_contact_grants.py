"""Contacts (a customer's role at a company) become a resource of their own: each built-in role
gets on ``contacts`` the grants it has on ``companies``, so whoever works with a company can
link its people. Roles an admin made are left as they are (an admin grants ``contacts`` there)."""

import datetime

import peewee as pw

BUILTIN = ("manager", "sales", "service", "readonly")


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
    for role in Role.select().where(Role.name.in_(BUILTIN), Role.builtin == True):  # noqa: E712
        have = {
            a
            for (a,) in Grant.select(Grant.action)
            .where(Grant.role == role, Grant.resource == "contacts")
            .tuples()
        }
        rows = [
            {
                "role": role.id,
                "resource": "contacts",
                "action": g.action,
                "scope": g.scope,
                "created_at": now,
                "updated_at": now,
            }
            for g in Grant.select().where(Grant.role == role, Grant.resource == "companies")
            if g.action not in have
        ]
        if rows:
            Grant.insert_many(rows).execute()
