"""Identity: departments (a tree), users, roles and access tokens."""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel


class Department(BaseModel):
    """A node of the department tree. ``path`` is the materialized path ``/1/4/9/`` of ids, so
    "this department and everything below" is one indexed prefix query."""

    name = pw.CharField(max_length=200)
    parent = pw.ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    path = pw.CharField(max_length=1000, index=True, default="")

    class Meta:
        table_name = "department"


class Role(BaseModel):
    """A named set of grants (``crm_core.permissions``). Built-in roles cannot be deleted."""

    name = pw.CharField(max_length=80, unique=True)
    label = pw.CharField(max_length=200, default="")
    builtin = pw.BooleanField(default=False)

    class Meta:
        table_name = "role"


class User(BaseModel):
    """A person who logs in. Passwords are argon2 hashes (``crm_core.auth.passwords``)."""

    #: never searched, filtered or sorted on (``permissions.View.searchable``)
    secret_fields = ("password_hash",)

    username = pw.CharField(max_length=150, unique=True)
    name = pw.CharField(max_length=200, default="")
    email = pw.CharField(max_length=254, null=True)
    password_hash = pw.CharField(max_length=255)
    is_active = pw.BooleanField(default=True)
    department = pw.ForeignKeyField(Department, null=True, backref="users", on_delete="SET NULL")
    language = pw.CharField(max_length=10, null=True)
    timezone = pw.CharField(max_length=64, null=True)  # IANA name; None: the instance's TIMEZONE
    failed_logins = pw.IntegerField(default=0)
    locked_until = pw.DateTimeField(null=True)
    password_changed_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "user"


class UserRole(BaseModel):
    user = pw.ForeignKeyField(User, backref="user_roles", on_delete="CASCADE")
    role = pw.ForeignKeyField(Role, backref="user_roles", on_delete="CASCADE")

    class Meta:
        table_name = "user_role"
        indexes = ((("user", "role"), True),)


class AccessToken(BaseModel):
    """A bearer token, stored as its SHA-256 hash. ``kind`` is ``login`` or ``personal``."""

    secret_fields = ("token_hash",)

    user = pw.ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    kind = pw.CharField(max_length=20, default="login")
    name = pw.CharField(max_length=200, default="")
    expires_at = pw.DateTimeField(null=True, index=True)
    revoked_at = pw.DateTimeField(null=True)
    last_used_at = pw.DateTimeField(null=True)
    scopes = pw.TextField(null=True)  # space-separated OAuth2 scopes; NULL = the user's permissions

    class Meta:
        table_name = "access_token"


MODELS = [Department, Role, User, UserRole, AccessToken]


class OAuthClient(BaseModel):
    """An integration using OAuth2 client credentials. It acts on behalf of ``user`` and never
    sees more than that user; ``scopes`` (space-separated ``resource:action``) cut it down further.
    The secret is random and high-entropy, so a SHA-256 hash is enough to store it."""

    secret_fields = ("secret_hash",)

    client_id = pw.CharField(max_length=64, unique=True)
    secret_hash = pw.CharField(max_length=64)
    name = pw.CharField(max_length=200)
    user = pw.ForeignKeyField(User, backref="oauth_clients", on_delete="CASCADE")
    scopes = pw.TextField(default="")
    created_by = pw.IntegerField(null=True)
    revoked_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "oauth_client"


MODELS.append(OAuthClient)
