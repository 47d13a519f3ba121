"""The OAuth2 authorization server (Authlib) at ``/oauth/token`` and ``/oauth/revoke``.

Two kinds of client (``OAuthClient.grant_types``):

- client credentials (RFC 6749 §4.4): an admin creates a client bound to a user and a set of
  scopes (``customers:read``, ``orders:write``...);
- third-party apps: authorization code with PKCE S256 for every client and rotating refresh
  tokens (``crm_core.auth.oauth_grants``; the consent screen is ``crm_core.web.oauth_consent``).

Every access token Authlib issues is stored like any other bearer token (hashed,
``kind="oauth"``, ``name`` = client id, ``scopes``), so ``crm_core.auth.token_actor`` turns it
into an ``Actor`` whose ``scopes`` ``crm_core.permissions`` intersects with the user's grants.
Authlib was chosen because it implements the grants, client authentication (basic, post and
none for public apps) and the RFC error responses, which are easy to get subtly wrong by hand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import peewee as pw
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from flask import Response, current_app, g, request
from werkzeug.http import HTTP_STATUS_CODES

from .. import audit
from ..db import database, utcnow
from . import oauth_grants
from .models import AccessToken, OAuthClient, OAuthCode, OAuthRefreshToken, User

TOKEN_TTL = 3600
#: how a confidential client may authenticate at the token and revocation endpoints
SECRET_METHODS = ("client_secret_basic", "client_secret_post")


def secret_hash(secret: str) -> str:
    """How a client secret is stored: its SHA-256 (secrets are random, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Client(ClientMixin):
    """Authlib's view of an ``OAuthClient`` row."""

    def __init__(self, row: OAuthClient):
        self.row = row

    def get_client_id(self):
        return self.row.client_id

    def get_default_redirect_uri(self):
        # never guessed: every authorization request names its redirect_uri (RFC 9700 §2.1)
        return None

    def get_allowed_scope(self, scope):
        allowed = set(self.row.scopes.split())
        if not scope:
            return " ".join(sorted(allowed))
        return " ".join(sorted(s for s in scope.split() if s in allowed))

    def check_redirect_uri(self, redirect_uri):
        # exact string comparison, no prefix or pattern matching (RFC 9700 §4.1.3)
        return self.row.is_app and redirect_uri in self.row.redirect_uris.split()

    def check_client_secret(self, client_secret):
        if self.row.public or not self.row.secret_hash:
            return False
        return hmac.compare_digest(self.row.secret_hash, secret_hash(client_secret or ""))

    def check_endpoint_auth_method(self, method, endpoint):
        if self.row.public:
            return method == "none"
        return method in SECRET_METHODS

    def check_response_type(self, response_type):
        return self.row.is_app and response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in self.row.grant_types.split()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def query_client(client_id) -> Client | None:
    """The live client ``client_id`` (an integration whose user is active, or an app), or None."""
    row = (
        OAuthClient.select(OAuthClient, User)
        .join(User, pw.JOIN.LEFT_OUTER)
        .where(OAuthClient.client_id == str(client_id or "")[:64], OAuthClient.revoked_at.is_null())
        .first()
    )
    if row is None or (row.user_id is not None and not row.user.is_active):
        return None
    if row.user_id is None and not row.is_app:
        return None
    return Client(row)


def _save_token(token, request):
    row = request.client.row
    # an app's token acts as the user who approved it; an integration's as its own user
    user_id = request.user.id if request.user is not None else row.user_id
    scopes = sorted((token.get("scope") or "").split())
    g.oauth_user_id = user_id
    access = AccessToken.create(
        user=user_id,
        token_hash=hashlib.sha256(token["access_token"].encode()).hexdigest(),
        kind="oauth",
        name=row.client_id,
        expires_at=utcnow() + dt.timedelta(seconds=int(token.get("expires_in") or TOKEN_TTL)),
        scopes=" ".join(scopes),
    )
    if token.get("refresh_token"):
        oauth_grants.save_refresh_token(token["refresh_token"], request, access, scopes)


def install(app) -> AuthorizationServer:
    """Create the app's authorization server: client credentials, authorization code with
    PKCE S256 (required for every client), refresh tokens with rotation, revocation (RFC 7009)."""
    app.config.setdefault(
        "OAUTH2_TOKEN_EXPIRES_IN",
        {"client_credentials": TOKEN_TTL, "authorization_code": TOKEN_TTL, "refresh_token": TOKEN_TTL},
    )
    # only grants that ask for one get a refresh token (authorization code, refresh)
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", True)
    server = AuthorizationServer(app, query_client=query_client, save_token=_save_token)
    server.register_grant(ClientCredentialsGrant)
    oauth_grants.register(server)
    app.extensions["crm_oauth"] = server
    return server


def oauth_json(response: Response) -> Response:
    """An Authlib error answer in the API's shape too: RFC 6749's ``error`` and
    ``error_description`` stay, ``code``/``status``/``message`` are added so clients of either
    convention understand it. Success answers pass unchanged."""
    if response.status_code < 400:
        return response
    try:
        body = json.loads(response.get_data(as_text=True) or "{}")
    except ValueError:
        body = {}
    body.update(
        code=response.status_code,
        status=HTTP_STATUS_CODES.get(response.status_code, "Error"),
        message=body.get("error_description") or body.get("error") or "OAuth2 error.",
        errors={},
    )
    response.set_data(json.dumps(body))
    response.headers["Content-Type"] = "application/json"
    return response


def token_response() -> Response:
    """Answer ``POST /oauth/token`` (errors: :func:`oauth_json`). One transaction: a reused
    code or refresh token revokes its family even though the answer is an error."""
    server = current_app.extensions["crm_oauth"]
    with database.atomic():
        response = server.create_token_response()
        _audit_grant(response.status_code < 400)
    return oauth_json(response)


def revocation_response() -> Response:
    """Answer ``POST /oauth/revoke`` (RFC 7009): 200 for a revoked or unknown token."""
    server = current_app.extensions["crm_oauth"]
    with database.atomic():
        response = server.create_endpoint_response(oauth_grants.RevocationEndpoint.ENDPOINT_NAME)
    return oauth_json(response)


def _audit_grant(granted: bool) -> None:
    """An audit entry for a token request, like a password login: ``login`` as the client's user,
    or ``login_failed`` naming the client id tried (never the secret)."""
    auth = request.authorization
    client_id = auth.username if auth is not None and auth.username else request.form.get("client_id")
    row = None
    if client_id:
        row = OAuthClient.get_or_none(OAuthClient.client_id == str(client_id)[:64])
    # the user the issued token acts as (an app's approving user), set by _save_token
    user_id = g.pop("oauth_user_id", None)
    user = User.get_or_none(User.id == user_id) if user_id else (row.user if row is not None else None)
    audit.record_event(
        user if granted and row is not None else None,
        "login" if granted else "login_failed",
        "oauth_clients",
        record_id=row.id if row is not None else None,
        extra={"client_id": str(client_id or "")[:64], "grant_type": request.form.get("grant_type")},
    )


def revoke_client(row: OAuthClient) -> None:
    """Revoke a client and every token, refresh token and code it holds (for every user)."""
    now = utcnow()
    with database.atomic():
        OAuthClient.update(revoked_at=now, updated_at=now).where(OAuthClient.id == row.id).execute()
        AccessToken.update(revoked_at=now).where(
            AccessToken.kind == "oauth", AccessToken.name == row.client_id, AccessToken.revoked_at.is_null()
        ).execute()
        OAuthRefreshToken.update(revoked_at=now).where(
            OAuthRefreshToken.client == row.id, OAuthRefreshToken.revoked_at.is_null()
        ).execute()
        OAuthCode.delete().where(OAuthCode.client == row.id).execute()
