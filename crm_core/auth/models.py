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
    """An OAuth2 client. ``grant_types`` says which kind:

    - ``client_credentials``: an integration acting on behalf of ``user``; it never sees more
      than that user, and ``scopes`` (space-separated ``resource:action``) cut it down further.
    - ``authorization_code refresh_token``: a third-party app (``user`` is NULL). Each user who
      approves it on the consent screen gets tokens acting as *that* user, cut down by the
      scopes granted (at most ``scopes``); ``redirect_uris`` (one per line) are matched exactly;
      a ``public`` app (no secret: a browser or mobile app) authenticates with PKCE alone.

    The secret is random and high-entropy, so a SHA-256 hash is enough to store it."""

    secret_fields = ("secret_hash",)

    client_id = pw.CharField(max_length=64, unique=True)
    secret_hash = pw.CharField(max_length=64)
    name = pw.CharField(max_length=200)
    user = pw.ForeignKeyField(User, backref="oauth_clients", on_delete="CASCADE", null=True)
    scopes = pw.TextField(default="")
    created_by = pw.IntegerField(null=True)
    revoked_at = pw.DateTimeField(null=True)
    grant_types = pw.CharField(max_length=100, default="client_credentials")
    redirect_uris = pw.TextField(default="")
    public = pw.BooleanField(default=False)

    class Meta:
        table_name = "oauth_client"

    @property
    def is_app(self) -> bool:
        """A third-party app (authorization code) rather than a client-credentials integration."""
        return "authorization_code" in self.grant_types.split()


class OAuthCode(BaseModel):
    """An authorization code (RFC 6749 §4.1), stored as its SHA-256. Single use: exchanging it
    sets ``used_at``, and the row stays until it expires so that a second exchange is caught
    and revokes what the first one issued (the code's id is the ``family`` of those tokens).
    ``code_challenge`` is the PKCE S256 challenge (RFC 7636), required for every client."""

    secret_fields = ("code_hash", "code_challenge")

    code_hash = pw.CharField(max_length=64, unique=True)
    client = pw.ForeignKeyField(OAuthClient, backref="codes", on_delete="CASCADE")
    user = pw.ForeignKeyField(User, backref="oauth_codes", on_delete="CASCADE")
    redirect_uri = pw.TextField()
    scopes = pw.TextField(default="")
    code_challenge = pw.CharField(max_length=128)
    code_challenge_method = pw.CharField(max_length=10, default="S256")
    expires_at = pw.DateTimeField(index=True)
    used_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "oauth_code"


class OAuthRefreshToken(BaseModel):
    """A refresh token (stored as its SHA-256) of one app for one user. Rotation: each use
    sets ``rotated_at`` and issues a new one in the same ``family`` (the id of the code the
    family started from); presenting a rotated token again revokes the whole family (RFC 9700
    §4.14). ``access_token`` is the access token issued with it."""

    secret_fields = ("token_hash",)

    token_hash = pw.CharField(max_length=64, unique=True)
    family = pw.IntegerField(index=True)
    client = pw.ForeignKeyField(OAuthClient, backref="refresh_tokens", on_delete="CASCADE")
    user = pw.ForeignKeyField(User, backref="oauth_refresh_tokens", on_delete="CASCADE")
    scopes = pw.TextField(default="")
    access_token = pw.ForeignKeyField(AccessToken, null=True, on_delete="SET NULL")
    expires_at = pw.DateTimeField()
    rotated_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "oauth_refresh_token"


MODELS.extend([OAuthClient, OAuthCode, OAuthRefreshToken])
