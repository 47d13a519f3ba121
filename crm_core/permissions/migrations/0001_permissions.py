"""Grants and field rules; the built-in roles manager, sales, service and readonly with their
default grants (admin: everything)."""

import datetime

import peewee as pw

# frozen copy of crm_core.permissions.builtin at the time of this migration
BUSINESS = ("customers", "companies", "deals", "activities", "tickets", "tags", "segments", "objects.*")
CRUD = ("read", "create", "update", "delete")
LABELS = {
    "admin": "Administrator",
    "manager": "Manager",
    "sales": "Sales",
    "service": "Customer service",
    "readonly": "Read only",
}


def _g(resources, actions, scope):
    return [(r, a, scope) for r in resources for a in actions]


GRANTS = {
    "admin": [("*", "*", "all")],
    "manager": [
        *_g(BUSINESS, (*CRUD, "export"), "department_tree"),
        *_g(("users",), ("read",), "department_tree"),
        *_g(("departments", "roles"), ("read",), "all"),
        *_g(("audit",), ("read",), "department_tree"),
    ],
    "sales": [
        *_g(("customers", "companies", "deals", "activities"), ("read",), "department"),
        *_g(("customers", "companies", "deals", "activities"), ("create", "update", "delete"), "own"),
        *_g(("customers", "deals"), ("export",), "own"),
        *_g(("tickets",), ("read",), "own"),
        *_g(("tags", "segments", "departments"), ("read",), "all"),
        *_g(("users",), ("read",), "department"),
    ],
    "service": [
        *_g(("tickets", "activities"), ("read", "create", "update"), "department"),
        *_g(("customers",), ("read", "update"), "department"),
        *_g(("companies",), ("read",), "department"),
        *_g(("tags", "departments"), ("read",), "all"),
        *_g(("users",), ("read",), "department"),
    ],
    "readonly": [
        *_g(BUSINESS, ("read",), "all"),
        *_g(("departments",), ("read",), "all"),
    ],
}


def up(migrator, db):
    class Base(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            legacy_table_names = False

    class Role(Base):
        name = pw.CharField(max_length=80, unique=True)
        label = pw.CharField(max_length=200, default="")
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
            indexes = ((("role", "resource", "action"), True),)

    class FieldRule(Base):
        role = pw.ForeignKeyField(Role, on_delete="CASCADE")
        resource = pw.CharField(max_length=120)
        field = pw.CharField(max_length=120)
        rule = pw.CharField(max_length=20)

        class Meta:
            table_name = "permission_field_rule"
            indexes = ((("role", "resource", "field"), True),)

    db.create_tables([Grant, FieldRule])
    if isinstance(db, pw.PostgresqlDatabase):
        # department_tree scopes are a LIKE 'path%' prefix query: needs pattern ops under any collation
        db.execute_sql(
            "CREATE INDEX IF NOT EXISTS department_path_prefix ON department (path text_pattern_ops)"
        )
    now = datetime.datetime.utcnow()
    for name, grants in GRANTS.items():
        role = Role.get_or_none(Role.name == name)
        if role is None:
            role = Role.create(name=name, label=LABELS[name], builtin=True, created_at=now, updated_at=now)
        Grant.insert_many(
            [
                {
                    "role": role.id,
                    "resource": r,
                    "action": a,
                    "scope": s,
                    "created_at": now,
                    "updated_at": now,
                }
                for r, a, s in grants
            ]
        ).execute()
