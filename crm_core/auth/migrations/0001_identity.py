"""Departments, users, roles and tokens."""

import datetime

import peewee as pw


def up(migrator, db):
    class Base(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            legacy_table_names = False

    class Department(Base):
        name = pw.CharField(max_length=200)
        parent = pw.ForeignKeyField("self", null=True, on_delete="RESTRICT")
        path = pw.CharField(max_length=1000, index=True, default="")

        class Meta:
            table_name = "department"

    class Role(Base):
        name = pw.CharField(max_length=80, unique=True)
        label = pw.CharField(max_length=200, default="")
        builtin = pw.BooleanField(default=False)

        class Meta:
            table_name = "role"

    class User(Base):
        username = pw.CharField(max_length=150, unique=True)
        name = pw.CharField(max_length=200, default="")
        email = pw.CharField(max_length=254, null=True)
        password_hash = pw.CharField(max_length=255)
        is_active = pw.BooleanField(default=True)
        department = pw.ForeignKeyField(Department, null=True, on_delete="SET NULL")
        language = pw.CharField(max_length=10, null=True)
        failed_logins = pw.IntegerField(default=0)
        locked_until = pw.DateTimeField(null=True)
        password_changed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "user"

    class UserRole(Base):
        user = pw.ForeignKeyField(User, on_delete="CASCADE")
        role = pw.ForeignKeyField(Role, on_delete="CASCADE")

        class Meta:
            table_name = "user_role"
            indexes = ((("user", "role"), True),)

    class AccessToken(Base):
        user = pw.ForeignKeyField(User, on_delete="CASCADE")
        token_hash = pw.CharField(max_length=64, unique=True)
        kind = pw.CharField(max_length=20, default="login")
        name = pw.CharField(max_length=200, default="")
        expires_at = pw.DateTimeField(null=True, index=True)
        revoked_at = pw.DateTimeField(null=True)
        last_used_at = pw.DateTimeField(null=True)
        scopes = pw.TextField(null=True)

        class Meta:
            table_name = "access_token"

    db.create_tables([Department, Role, User, UserRole, AccessToken])
    now = datetime.datetime.utcnow()
    Role.insert_many(
        [
            {
                "name": "admin",
                "label": "Administrator",
                "builtin": True,
                "created_at": now,
                "updated_at": now,
            },
        ]
    ).execute()
