"""Identity: who is calling. Users, password login, bearer tokens and the request's ``Actor``.

Public API used by every view and plugin:

- ``current_actor()``: the authenticated ``Actor`` of this request, or raises 401.
- ``public``: decorator marking an API view (function or MethodView class) as open to anonymous
  callers; every other ``/api/`` view requires a valid token.
- ``create_user(...)``, ``authenticate(username, password)``, ``issue_token(user, ...)``,
  ``revoke_token(raw)``, ``revoke_user_tokens(user)``.
- ``login(username, password)``: a password check with lockout per (username, client IP)
  (429 + ``Retry-After`` while locked); wrap it in ``crm_core.auth.ratelimit.login_attempt()``
  to apply the per-IP limit too.
- ``confirm_password(user, password)``: the password typed again before a sensitive act (the
  same lockout as ``login``); True when it matches.
- ``set_password(user, password, keep_token_id=None)``: policy-checked, revokes the user's tokens.
- ``record_change(action, resource, record_id, before, after)``: report a write to an identity
  object (users, roles, departments, tokens, OAuth clients) to ``crm_record_written`` (audit).
- ``user_dict(user)``: the JSON view of a user.

Related modules: ``departments`` (the tree and its paths), ``oauth`` (client credentials with
Authlib), ``ratelimit`` (Flask-Limiter), and the API modules ``api_users``, ``api_departments``,
``api_tokens``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import peewee as pw
from flask import current_app, g, request

from .. import stamps
from ..audit import record_event
from ..changes import record_written
from ..db import database, utcnow
from ..errors import APIError
from ..prepared import Prepared, slot
from . import token_cache
from .models import AccessToken, Department, OAuthRefreshToken, Role, User, UserRole
from .passwords import hash_password, policy_errors, verify_password
from .ratelimit import clear_user_failures, count_user_failure, login_locked_for

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class Actor:
    """The caller of a request: a user, their role names, and (for OAuth2 clients) the client id
    and the scopes that further restrict what the user may do."""

    user: User
    roles: frozenset[str]
    client_id: str | None = None
    scopes: frozenset[str] | None = None
    token_id: int | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def department_id(self) -> int | None:
        return self.user.department_id

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles and self.scopes is None

    def __repr__(self) -> str:
        return f"<Actor {self.user.username} roles={sorted(self.roles)} client={self.client_id}>"


def public(view):
    """Mark an API view function or MethodView class as reachable without a token."""
    view._crm_public = True
    return view


def actor_for_user(user: User, client_id: str | None = None, scopes=None, token_id=None, roles=None) -> Actor:
    """Build the ``Actor`` of ``user``; its role names are loaded unless given as ``roles``."""
    if roles is None:
        roles = (r.name for r in Role.select(Role.name).join(UserRole).where(UserRole.user == user))
    roles = frozenset(roles)
    return Actor(
        user=user,
        roles=roles,
        client_id=client_id,
        scopes=frozenset(scopes) if scopes is not None else None,
        token_id=token_id,
    )


def current_actor(required: bool = True) -> Actor | None:
    """The authenticated actor of the current request; 401 when absent and ``required``."""
    actor = g.get("actor")
    if actor is None and required:
        raise APIError(
            401,
            "Authentication required: send 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return actor


def hash_token(raw: str) -> str:
    """SHA-256 of a raw token: tokens are stored hashed and shown once."""
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(
    user: User, kind: str = "login", name: str = "", ttl: int | None = None, scopes=None
) -> tuple[str, AccessToken]:
    """Create a bearer token for ``user``; returns (raw token, stored row). ``ttl`` in seconds,
    None for the configured login lifetime, 0 for no expiry."""
    raw = secrets.token_urlsafe(32)
    ttl = current_app.config["TOKEN_TTL_SECONDS"] if ttl is None else ttl
    expires = utcnow() + dt.timedelta(seconds=ttl) if ttl else None
    row = AccessToken.create(
        user=user,
        token_hash=hash_token(raw),
        kind=kind,
        name=name,
        expires_at=expires,
        scopes=" ".join(sorted(scopes)) if scopes is not None else None,
    )
    return raw, row


# the token, its user, the user's roles and the request stamps (crm_core.stamps) in one round
# trip, compiled once: this runs on every API call
_TOKEN_WITH_ROLES = Prepared(
    lambda: (
        AccessToken.select(AccessToken, User, UserRole.id, Role.name, *stamps.columns())
        .join(User)
        .join(UserRole, pw.JOIN.LEFT_OUTER, attr="role_link")
        .join(Role, pw.JOIN.LEFT_OUTER)
        .where(AccessToken.token_hash == slot("hash"))
    )
)


def token_actor(raw: str) -> Actor | None:
    """The actor a raw bearer token stands for, or None if unknown, expired, revoked or inactive.

    A token this worker resolved before under the current permission revision is not read again
    (:mod:`.token_cache`): the request reads only its stamps, and a read on PostgreSQL not even
    those (``stamps.assume``: checked with its first statement, run again when stale)."""
    digest = hash_token(raw)
    kept = token_cache.lookup(digest)
    if kept is not None:
        # a read assumes the revision it was kept under (checked with its first statement)
        if not stamps.assume({stamps.PERMISSIONS: kept.nonce}, kept.user.get("id")):
            stamps.read_all(kept.user.get("id"))
        if stamps.value(stamps.PERMISSIONS) == kept.nonce:
            return _kept_actor(digest, kept)
        token_cache.forget(digest)  # resolved under an older revision: read again below
    rows = _TOKEN_WITH_ROLES.rows(hash=digest)
    row = rows[0] if rows else None
    if row is None or row.revoked_at is not None or not row.user.is_active:
        return None
    # (a stamp registered after the statement was compiled is not in it: read when asked for)
    carried = {name for name in stamps.names() if hasattr(row, f"stamp_{name}")}
    stamps.prime(
        {name: getattr(row, f"stamp_{name}") for name in carried}, committed=not database.in_transaction()
    )
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    used = _touch(row.id, row.last_used_at)
    scopes = row.scopes.split() if row.scopes is not None else None
    client_id = row.name if row.kind == "oauth" else None
    links = (getattr(r.user, "role_link", None) for r in rows)  # None: a user without roles
    roles = [link.role.name for link in links if link is not None]
    nonce = getattr(row, f"stamp_{stamps.PERMISSIONS}", None)
    if nonce:
        token_cache.keep(
            digest,
            token_cache.Resolved(
                nonce=nonce,
                user=dict(row.user.__data__),
                roles=tuple(roles),
                token_id=row.id,
                scopes=scopes,
                client_id=client_id,
                expires_at=row.expires_at,
                last_used_at=used,
            ),
        )
    return actor_for_user(row.user, client_id=client_id, scopes=scopes, token_id=row.id, roles=roles)


def _kept_actor(digest: str, kept: token_cache.Resolved) -> Actor | None:
    if kept.expires_at is not None and kept.expires_at <= utcnow():
        token_cache.forget(digest)
        return None
    kept.last_used_at = _touch(kept.token_id, kept.last_used_at)
    return actor_for_user(
        kept.new_user(),
        client_id=kept.client_id,
        scopes=kept.scopes,
        token_id=kept.token_id,
        roles=kept.roles,
    )


def _touch(token_id: int, last_used_at: dt.datetime | None) -> dt.datetime | None:
    """Record the token's use, at most once a minute (enough to spot unused personal tokens);
    returns its last use as now recorded."""
    now = utcnow()
    if last_used_at is None or now - last_used_at > dt.timedelta(seconds=60):
        AccessToken.update(last_used_at=now).where(AccessToken.id == token_id).execute()
        return now
    return last_used_at


def revoke_token(raw: str) -> bool:
    """Revoke one token; True if it existed and was live."""
    return bool(
        AccessToken.update(revoked_at=utcnow())
        .where(AccessToken.token_hash == hash_token(raw), AccessToken.revoked_at.is_null())
        .execute()
    )


def revoke_user_tokens(user: User, kinds=("login", "personal", "oauth")) -> int:
    """Revoke every live token of ``user`` (password change, deactivation); ``oauth`` includes
    the apps' refresh tokens, so no app mints new access tokens afterwards."""
    if "oauth" in kinds:
        _revoke_refresh_tokens(user)
    return (
        AccessToken.update(revoked_at=utcnow())
        .where(AccessToken.user == user, AccessToken.kind.in_(kinds), AccessToken.revoked_at.is_null())
        .execute()
    )


def _revoke_refresh_tokens(user: User) -> None:
    OAuthRefreshToken.update(revoked_at=utcnow()).where(
        OAuthRefreshToken.user == user, OAuthRefreshToken.revoked_at.is_null()
    ).execute()


def authenticate(username: str, password: str) -> User | None:
    """The active user with these credentials, or None. Runs the hash even for unknown users so
    that timing does not reveal which usernames exist."""
    user = User.get_or_none(User.username == username)
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if not user.is_active or not verify_password(user.password_hash, password):
        return None
    return user


_DUMMY_HASH = hash_password("not-a-real-password-0")


def login(username: str, password: str) -> User:
    """Check a password login with lockout per (username, client IP): after ``LOGIN_MAX_FAILURES``
    failures in a row from one IP, that username is locked *from that IP* for
    ``LOGIN_LOCKOUT_SECONDS``, doubling with each further failure (max 1 h); the user still signs
    in from anywhere else. ``User.locked_until`` (set by an administrator) locks everywhere.
    Raises ``APIError`` 401 (wrong credentials) or 429 with ``Retry-After`` (locked)."""
    user = User.get_or_none(User.username == username)
    now = utcnow()
    retry = login_locked_for(username)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        retry = max(retry, 1, int((user.locked_until - now).total_seconds()))
    if retry:
        record_event(
            None,
            "login_failed",
            "users",
            getattr(user, "id", None),
            {"username": username[:150], "reason": "locked"},
            user,
        )
        raise APIError(
            429,
            f"Too many failed logins; try again in {retry} s.",
            headers={"Retry-After": str(retry)},
        )
    if authenticate(username, password) is None:
        # unknown usernames count too: whether a name exists is not revealed by when it locks
        count_user_failure(username)
        if user is not None:
            _count_failure(user)
        record_event(
            None, "login_failed", "users", getattr(user, "id", None), {"username": username[:150]}, user
        )
        raise APIError(401, "Wrong username or password.")
    clear_user_failures(username)
    if user.failed_logins:
        User.update(failed_logins=0).where(User.id == user.id).execute()
    record_event(user, "login", "users", user.id, record=user)
    return user


def _count_failure(user: User) -> None:
    # failures in a row from anywhere, for the record (atomic in SQL: concurrent attempts cannot
    # undercount); the lockout itself is per client IP (``ratelimit.count_user_failure``)
    User.update(failed_logins=User.failed_logins + 1).where(User.id == user.id).execute()


def confirm_password(user, password: str) -> bool:
    """Step-up authentication: True when ``user`` (a ``User`` or an ``Actor``) typed their own
    password again, before a sensitive act such as a break-glass. It is a login check, so a wrong
    password counts towards the same lockout per (username, IP) and is audited as a failed login;
    while locked it raises ``APIError`` 429 with ``Retry-After``. An inactive user never passes."""
    user = getattr(user, "user", user)
    try:
        login(user.username, password or "")
    except APIError as exc:
        if exc.code != 401:
            raise
        return False
    return True


def set_password(user: User, password: str, keep_token_id: int | None = None) -> None:
    """Set a new password (policy-checked, 422 otherwise) and revoke every token of the user
    except ``keep_token_id``: whoever held a token under the old password loses it."""
    problems = policy_errors(password or "")
    if problems:
        raise APIError(422, "Invalid password.", errors={"password": problems})
    with database.atomic():
        User.update(
            password_hash=hash_password(password),
            password_changed_at=utcnow(),
            failed_logins=0,
            locked_until=None,
            updated_at=utcnow(),
        ).where(User.id == user.id).execute()
        query = AccessToken.update(revoked_at=utcnow()).where(
            AccessToken.user == user, AccessToken.revoked_at.is_null()
        )
        if keep_token_id is not None:
            query = query.where(AccessToken.id != keep_token_id)
        query.execute()
        _revoke_refresh_tokens(user)  # the apps' too: whoever held the old password lost them


def record_change(action: str, resource: str, record_id, before=None, after=None, actor=None) -> None:
    """Report a write to an identity object (users, roles, departments, tokens, OAuth clients)
    through the one write path's ``changes.record_written`` (audit, outbox); call inside
    the write's transaction. ``actor`` defaults to the request's."""
    record_written(action, resource, None, actor, before, after, record_id=record_id)


def create_user(
    username: str,
    password: str,
    roles=(),
    department_id: int | None = None,
    name: str = "",
    email: str | None = None,
) -> User:
    """Create a user with roles (names) and a department; raises ``APIError`` 409/422 on bad input."""
    errors = {}
    if not username or len(username) > 150:
        errors["username"] = ["Must be 1 to 150 characters."]
    problems = policy_errors(password or "")
    if problems:
        errors["password"] = problems
    role_rows = list(Role.select().where(Role.name.in_(list(roles)))) if roles else []
    missing = sorted(set(roles) - {r.name for r in role_rows})
    if missing:
        errors["roles"] = [f"Unknown role(s): {', '.join(missing)}."]
    if department_id is not None and not Department.select().where(Department.id == department_id).exists():
        errors["department_id"] = [f"No department {department_id}."]
    if errors:
        raise APIError(422, "Invalid user.", errors=errors)
    if User.select().where(User.username == username).exists():
        raise APIError(409, f"User {username!r} already exists.", errors={"username": ["Already taken."]})
    with database.atomic():
        user = User.create(
            username=username,
            password_hash=hash_password(password),
            department=department_id,
            name=name or username,
            email=email,
            password_changed_at=utcnow(),
        )
        for role in role_rows:
            UserRole.create(user=user, role=role)
        record_change("create", "users", user.id, None, user_dict(user))
    return user


def user_dict(user: User) -> dict:
    """The JSON view of a user (never the password hash)."""
    roles = sorted(r.name for r in Role.select(Role.name).join(UserRole).where(UserRole.user == user))
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "is_active": user.is_active,
        "department_id": user.department_id,
        "language": user.language,
        "roles": roles,
        "locked_until": user.locked_until.isoformat() if user.locked_until else None,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }


def load_request_actor() -> None:
    """``before_request``: resolve the bearer token, and refuse anonymous calls to private API views."""
    g.actor = None
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        actor = token_actor(header[7:].strip())
        if actor is None:
            raise APIError(401, "Invalid, expired or revoked token.", headers={"WWW-Authenticate": "Bearer"})
        g.actor = actor
    if g.actor is None and request.path.startswith("/api/") and not _is_public_endpoint():
        current_actor()


def _is_public_endpoint() -> bool:
    if request.endpoint is None:  # 404/405 answer as such, not 401
        return True
    view = current_app.view_functions.get(request.endpoint)
    if view is None:
        return True
    if getattr(view, "_crm_public", False) or getattr(
        getattr(view, "view_class", None), "_crm_public", False
    ):
        return True
    return request.endpoint.startswith(("api-docs.", "static"))
