"""OAuth2 client credentials (RFC 6749 §4.4) with Authlib at ``POST /oauth/token``.

An admin creates a client bound to a user and a set of scopes (``customers:read``,
``orders:write``...). The token Authlib issues is stored like every other bearer token (hashed,
``kind="oauth"``, ``name`` = client id, ``scopes``), so ``crm_core.auth.token_actor`` turns it
into an ``Actor`` whose ``scopes`` ``crm_core.permissions`` intersects with the user's grants.
Authlib was chosen because it implements the grant, client authentication (basic and post) and
the RFC error responses, which are easy to get subtly wrong by hand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from flask import Response, current_app, request

from .. import audit
from ..db import database, utcnow
from .models import AccessToken, OAuthClient, User

TOKEN_TTL = 3600


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
        return None

    def get_allowed_scope(self, scope):
        allowed = set(self.row.scopes.split())
        if not scope:
            return " ".join(sorted(allowed))
        return " ".join(sorted(s for s in scope.split() if s in allowed))

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return hmac.compare_digest(self.row.secret_hash, secret_hash(client_secret or ""))

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == "client_credentials"


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def _query_client(client_id):
    row = (
        OAuthClient.select(OAuthClient, User)
        .join(User)
        .where(OAuthClient.client_id == str(client_id or ""), OAuthClient.revoked_at.is_null())
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    return Client(row)


def _save_token(token, request):
    row = request.client.row
    scopes = (token.get("scope") or "").split()
    AccessToken.create(
        user=row.user_id,
        token_hash=hashlib.sha256(token["access_token"].encode()).hexdigest(),
        kind="oauth",
        name=row.client_id,
        expires_at=utcnow() + dt.timedelta(seconds=int(token.get("expires_in") or TOKEN_TTL)),
        scopes=" ".join(sorted(scopes)),
    )


def install(app) -> AuthorizationServer:
    """Create the app's authorization server with the client-credentials grant."""
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"client_credentials": TOKEN_TTL})
    server = AuthorizationServer(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(ClientCredentialsGrant)
    app.extensions["crm_oauth"] = server
    return server


def token_response() -> Response:
    """Answer ``POST /oauth/token``; errors keep RFC 6749's ``error`` and add the API's
    ``code``/``status``/``message`` so clients of either convention understand them."""
    server = current_app.extensions["crm_oauth"]
    with database.atomic():
        response = server.create_token_response()
        _audit_grant(response.status_code < 400)
    if response.status_code >= 400:
        from werkzeug.http import HTTP_STATUS_CODES

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


def _audit_grant(granted: bool) -> None:
    """An audit entry for a token request, like a password login: ``login`` as the client's user,
    or ``login_failed`` naming the client id tried (never the secret)."""
    auth = request.authorization
    client_id = auth.username if auth is not None and auth.username else request.form.get("client_id")
    row = None
    if client_id:
        row = OAuthClient.get_or_none(OAuthClient.client_id == str(client_id)[:64])
    audit.record_event(
        row.user if granted and row is not None else None,
        "login" if granted else "login_failed",
        "oauth_clients",
        record_id=row.id if row is not None else None,
        extra={"client_id": str(client_id or "")[:64], "grant_type": request.form.get("grant_type")},
    )


def revoke_client(row: OAuthClient) -> None:
    """Revoke a client and every token it holds."""
    now = utcnow()
    with database.atomic():
        OAuthClient.update(revoked_at=now, updated_at=now).where(OAuthClient.id == row.id).execute()
        AccessToken.update(revoked_at=now).where(
            AccessToken.kind == "oauth", AccessToken.name == row.client_id, AccessToken.revoked_at.is_null()
        ).execute()
