"""Authorization code with PKCE, rotating refresh tokens and revocation, for third-party apps.

The rules (RFC 6749, RFC 7636, RFC 7009 and the security BCP RFC 9700):

- **PKCE S256 for every client**, confidential or public: an authorization request without
  ``code_challenge``, or with ``code_challenge_method`` ``plain`` (or none, which means plain),
  is refused; a token request without a matching ``code_verifier`` is refused. Authlib's own
  ``CodeChallenge(required=True)`` only insists for public clients and accepts ``plain``.
- **Codes** live :data:`CODE_TTL` seconds and are single use. The first exchange that passes
  every check claims the code (one ``UPDATE ... WHERE used_at IS NULL``, so two racing exchanges
  cannot both win); a later exchange of the same code is refused and revokes every token issued
  from it (RFC 6749 §4.1.2). ``redirect_uri`` must be given and equal the registered one exactly.
- **Scopes** are bound to the approving user: the consent screen keeps the requested scopes
  the user holds and *drops* the others (shown on the screen), and hands them over as an
  :class:`Approval`; when none is left the request is refused with ``invalid_scope``. The token then acts as that user, through the
  one permission decision, cut down by the granted scopes.
- **Refresh tokens** rotate: each use returns a new one and retires the old; presenting a
  retired one again (a stolen copy, or a replay) revokes the whole family: every refresh and
  access token issued from the same authorization (RFC 9700 §4.14.2).
- **Revocation** (RFC 7009): a refresh token revokes its family, an access token itself; an
  unknown token is a 200 as the RFC asks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, InvalidScopeError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from peewee import fn

from .. import audit
from ..db import utcnow
from .models import AccessToken, OAuthClient, OAuthCode, OAuthRefreshToken, User

CODE_TTL = 300  # RFC 6749 §4.1.2: "a maximum authorization code lifetime of 10 minutes"
REFRESH_TTL = 30 * 86400
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def _hash(raw: str) -> str:
    return hashlib.sha256((raw or "").encode()).hexdigest()


@dataclass(frozen=True)
class Approval:
    """What the consent screen hands to the grant when a user approves an app: the user, and the
    scopes they may grant (the requested ones they hold: the permission module decides, in
    ``crm_core.web.oauth_consent``; this layer sits below the permissions and cannot ask)."""

    user: User
    scopes: tuple[str, ...]

    @property
    def id(self) -> int:
        return self.user.id


class S256CodeChallenge(CodeChallenge):
    """PKCE as RFC 9700 wants it: S256 only, and for every client (see the module docstring)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "plain"  # RFC 7636 §4.3: absent means plain, refused below
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send code_challenge (BASE64URL(SHA256(code_verifier))) with "
                "code_challenge_method=S256."
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "code_challenge_method must be S256; 'plain' (the default when absent) is not allowed."
            )
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier': PKCE is required for every client.")
        super().validate_code_verifier(grant, result)


class _Code:
    """Authlib's view of an ``OAuthCode`` row."""

    def __init__(self, row: OAuthCode):
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self):
        return self.row.redirect_uri

    def get_scope(self):
        return self.row.scopes


class _Token:
    """Authlib's view of a refresh token or an access token row."""

    def __init__(self, row, client_pk: int):
        self.row = row
        self.client_pk = client_pk

    @property
    def is_refresh(self) -> bool:
        return isinstance(self.row, OAuthRefreshToken)

    def check_client(self, client):
        return client.row.id == self.client_pk

    def get_scope(self):
        return self.row.scopes or ""


def _revoke_family(family: int, reason: str) -> int:
    """Revoke every refresh token of ``family`` and the access tokens issued with them;
    audited (``reason``) when anything was still live. Returns how many tokens were revoked."""
    now = utcnow()
    live = AccessToken.revoked_at.is_null()
    issued = OAuthRefreshToken.select(OAuthRefreshToken.access_token).where(
        OAuthRefreshToken.family == family
    )
    count = AccessToken.update(revoked_at=now).where(AccessToken.id.in_(issued), live).execute()
    count += (
        OAuthRefreshToken.update(revoked_at=now)
        .where(OAuthRefreshToken.family == family, OAuthRefreshToken.revoked_at.is_null())
        .execute()
    )
    first = OAuthRefreshToken.select().where(OAuthRefreshToken.family == family).first()
    if count and first is not None:
        audit.record_event(
            User.get_by_id(first.user_id),
            "oauth_revoke",
            "oauth_clients",
            record_id=first.client_id,
            extra={"reason": reason, "family": family, "revoked": count},
        )
    return count


def save_refresh_token(raw: str, request, access: AccessToken, scopes: list[str]) -> None:
    """Store the refresh token issued with ``access``, in the family of the code it came from
    (a new family per code exchange) or of the refresh token it replaces."""
    if request.payload.grant_type == "refresh_token":
        family = request.refresh_token.row.family
    else:
        family = request.authorization_code.row.id
    OAuthRefreshToken.create(
        token_hash=_hash(raw),
        family=family,
        client=request.client.row.id,
        user=access.user_id,
        scopes=" ".join(scopes),
        access_token=access.id,
        expires_at=utcnow() + dt.timedelta(seconds=REFRESH_TTL),
    )


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """RFC 6749 §4.1 over ``OAuthCode`` rows, with the single-use and reuse rules above."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, request):
        approval = request.user
        if not isinstance(approval, Approval):  # fail closed: only the consent screen approves
            raise InvalidRequestError("The authorization was not approved on the consent screen.")
        asked = set((request.scope or "").split())
        granted = sorted(s for s in approval.scopes if s in asked)
        if not granted:
            raise InvalidScopeError("You hold none of the permissions this app asks for.")
        now = utcnow()
        # codes are kept until they expire (reuse detection); older ones are of no use
        OAuthCode.delete().where(OAuthCode.expires_at < now - dt.timedelta(days=1)).execute()
        data = request.payload.data
        OAuthCode.create(
            code_hash=_hash(code),
            client=request.client.row.id,
            user=approval.user.id,
            redirect_uri=request.payload.redirect_uri,
            scopes=" ".join(granted),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=now + dt.timedelta(seconds=CODE_TTL),
        )

    def query_authorization_code(self, code, client):
        row = OAuthCode.get_or_none(OAuthCode.code_hash == _hash(code), OAuthCode.client == client.row.id)
        if row is None:
            return None
        if row.used_at is not None:
            _revoke_family(row.id, "authorization code reused")
            raise InvalidGrantError(
                "This authorization code was already used; the tokens issued from it are revoked."
            )
        if row.expires_at <= utcnow():
            raise InvalidGrantError("The authorization code has expired; start the authorization again.")
        return _Code(row)

    def create_token_response(self):
        row = self.request.authorization_code.row
        # claimed only now, after the client, redirect_uri and PKCE checks passed
        claimed = (
            OAuthCode.update(used_at=utcnow())
            .where(OAuthCode.id == row.id, OAuthCode.used_at.is_null())
            .execute()
        )
        if not claimed:
            _revoke_family(row.id, "authorization code reused")
            raise InvalidGrantError("This authorization code was already used.")
        return super().create_token_response()

    def delete_authorization_code(self, authorization_code):
        # kept (marked used) until it expires, so that a replay is recognised
        return None

    def authenticate_user(self, authorization_code):
        return User.get_or_none(User.id == authorization_code.row.user_id, User.is_active == True)  # noqa: E712


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        row = OAuthRefreshToken.get_or_none(OAuthRefreshToken.token_hash == _hash(refresh_token))
        client = self.request.client
        if row is None or row.client_id != client.row.id:
            return None
        if row.revoked_at is not None:
            raise InvalidGrantError("This refresh token has been revoked.")
        if row.rotated_at is not None:
            _revoke_family(row.family, "refresh token reused")
            raise InvalidGrantError(
                "This refresh token was already used; every token of this authorization is now revoked."
            )
        if row.expires_at <= utcnow():
            raise InvalidGrantError("The refresh token has expired; authorize the app again.")
        return _Token(row, row.client_id)

    def create_token_response(self):
        row = self.request.refresh_token.row
        claimed = (
            OAuthRefreshToken.update(rotated_at=utcnow())
            .where(
                OAuthRefreshToken.id == row.id,
                OAuthRefreshToken.rotated_at.is_null(),
                OAuthRefreshToken.revoked_at.is_null(),
            )
            .execute()
        )
        if not claimed:
            _revoke_family(row.family, "refresh token reused")
            raise InvalidGrantError("This refresh token was already used.")
        return super().create_token_response()

    def authenticate_user(self, refresh_token):
        return User.get_or_none(User.id == refresh_token.row.user_id, User.is_active == True)  # noqa: E712

    def revoke_old_credential(self, refresh_token):
        # already retired by create_token_response (rotated_at); its access token expires soon
        return None


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009 over access tokens (``kind="oauth"``) and refresh tokens."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        digest = _hash(token_string)
        refresh = OAuthRefreshToken.get_or_none(OAuthRefreshToken.token_hash == digest)
        if refresh is not None:
            return _Token(refresh, refresh.client_id)
        access = AccessToken.get_or_none(AccessToken.token_hash == digest, AccessToken.kind == "oauth")
        if access is not None:
            owner = OAuthClient.get_or_none(OAuthClient.client_id == access.name)
            if owner is not None:
                return _Token(access, owner.id)
        return None

    def revoke_token(self, token, request):
        if token.is_refresh:
            _revoke_family(token.row.family, "revoked by the app (RFC 7009)")
        else:
            AccessToken.update(revoked_at=utcnow()).where(
                AccessToken.id == token.row.id, AccessToken.revoked_at.is_null()
            ).execute()


def register(server) -> None:
    """Add the authorization-code grant (with S256 PKCE), refresh and revocation to ``server``."""
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(RevocationEndpoint)


def authorized_apps(user) -> list[dict]:
    """The apps ``user`` has authorized and not revoked, by name: ``[{"client", "scopes",
    "since", "last_used_at"}]`` (from the live refresh tokens of each app)."""
    now = utcnow()
    rows = (
        OAuthRefreshToken.select(OAuthRefreshToken, OAuthClient)
        .join(OAuthClient)
        .where(
            OAuthRefreshToken.user == user.id,
            OAuthRefreshToken.revoked_at.is_null(),
            OAuthRefreshToken.rotated_at.is_null(),
            OAuthRefreshToken.expires_at > now,
            OAuthClient.revoked_at.is_null(),
        )
        .order_by(OAuthRefreshToken.id)
    )
    apps: dict[int, dict] = {}
    for row in rows:
        entry = apps.setdefault(row.client.id, {"client": row.client, "scopes": set(), "families": set()})
        entry["scopes"].update(row.scopes.split())
        entry["families"].add(row.family)
    for entry in apps.values():
        families = sorted(entry.pop("families"))
        entry["scopes"] = sorted(entry["scopes"])
        # the family's first refresh token: when the user approved the app
        entry["since"] = (
            OAuthRefreshToken.select(fn.MIN(OAuthRefreshToken.created_at))
            .where(OAuthRefreshToken.family.in_(families))
            .scalar()
        )
        entry["last_used_at"] = (
            AccessToken.select(fn.MAX(AccessToken.last_used_at))
            .where(
                AccessToken.user == user.id,
                AccessToken.kind == "oauth",
                AccessToken.name == entry["client"].client_id,
            )
            .scalar()
        )
    return sorted(apps.values(), key=lambda e: e["client"].name.lower())


def revoke_app_for_user(user, client: OAuthClient) -> int:
    """Withdraw ``user``'s authorization of ``client``: every access and refresh token and
    unused code of that app for that user. Returns how many tokens were revoked."""
    now = utcnow()
    count = (
        AccessToken.update(revoked_at=now)
        .where(
            AccessToken.user == user.id,
            AccessToken.kind == "oauth",
            AccessToken.name == client.client_id,
            AccessToken.revoked_at.is_null(),
        )
        .execute()
    )
    count += (
        OAuthRefreshToken.update(revoked_at=now)
        .where(
            OAuthRefreshToken.user == user.id,
            OAuthRefreshToken.client == client.id,
            OAuthRefreshToken.revoked_at.is_null(),
        )
        .execute()
    )
    OAuthCode.update(used_at=now).where(
        OAuthCode.user == user.id, OAuthCode.client == client.id, OAuthCode.used_at.is_null()
    ).execute()
    return count
