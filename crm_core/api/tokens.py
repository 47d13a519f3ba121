"""Personal API tokens (``/api/v1/auth/tokens``), OAuth2 clients and third-party apps
(``/api/v1/oauth-clients``), and the OAuth2 token and revocation endpoints (``POST /oauth/token``,
``POST /oauth/revoke``; the authorization endpoint is the workbench's consent screen
``/authorize``, see ``crm_core.web.oauth_consent``)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from .. import permissions
from ..auth import current_actor, issue_token, public, record_change
from ..auth.models import AccessToken, OAuthClient, User
from ..auth.oauth import revocation_response, revoke_client, token_response
from ..auth.ratelimit import check_login_rate, count_login_failure
from ..db import database, utcnow
from ..directory.clients import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, create_client
from ..errors import APIError
from . import API_PREFIX, Blueprint
from .common import int_id, no_nul
from .responses import json_response

tokens_blp = Blueprint(
    "tokens", __name__, url_prefix=f"{API_PREFIX}/auth/tokens", description="Personal API tokens"
)
clients_blp = Blueprint(
    "oauth_clients", __name__, url_prefix=f"{API_PREFIX}/oauth-clients", description="OAuth2 clients (admin)"
)
oauth_blp = Blueprint(
    "oauth", __name__, url_prefix="/oauth", description="OAuth2 token and revocation endpoints"
)


class TokenIn(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), no_nul])
    expires_in_days = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=3650),
        metadata={"description": "None: never"},
    )


class TokenOut(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    created_at = fields.String()
    expires_at = fields.String(allow_none=True)
    last_used_at = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)
    token = fields.String(metadata={"description": "Only in the answer to POST: shown once."})


def _iso(value):
    return value.isoformat() if value else None


def token_dict(row: AccessToken) -> dict:
    """JSON view of a stored token (never its hash)."""
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
        "last_used_at": _iso(row.last_used_at),
        "revoked_at": _iso(row.revoked_at),
    }


def _no_client(actor):
    if actor.client_id:
        raise APIError(403, "OAuth clients cannot manage personal tokens.")


@tokens_blp.route("")
class Tokens(MethodView):
    @tokens_blp.response(200, TokenOut(many=True))
    def get(self):
        """The caller's personal tokens (live and revoked); the secrets are never shown again."""
        actor = current_actor()
        _no_client(actor)
        rows = (
            AccessToken.select()
            .where(AccessToken.user == actor.id, AccessToken.kind == "personal")
            .order_by(AccessToken.id)
        )
        return json_response([token_dict(r) for r in rows])

    @tokens_blp.arguments(TokenIn)
    @tokens_blp.response(201, TokenOut)
    def post(self, data):
        """Create a personal API token; the answer carries the token, shown this once only."""
        actor = current_actor()
        _no_client(actor)
        ttl = data["expires_in_days"] * 86400 if data.get("expires_in_days") else 0
        with database.atomic():
            raw, row = issue_token(User.get_by_id(actor.id), kind="personal", name=data["name"], ttl=ttl)
            record_change("create", "tokens", row.id, None, token_dict(row))
        return json_response({**token_dict(row), "token": raw}, 201)


@tokens_blp.route("/<token_id>")
class TokenItem(MethodView):
    @tokens_blp.response(204)
    def delete(self, token_id):
        """Revoke one of the caller's personal tokens (404 for anyone else's)."""
        actor = current_actor()
        _no_client(actor)
        row = AccessToken.get_or_none(
            AccessToken.id == int_id(token_id, "token"),
            AccessToken.user == actor.id,
            AccessToken.kind == "personal",
        )
        if row is None:
            raise APIError(404, f"No token {token_id}.")
        with database.atomic():
            before = token_dict(row)
            AccessToken.update(revoked_at=utcnow()).where(
                AccessToken.id == row.id, AccessToken.revoked_at.is_null()
            ).execute()
            record_change("delete", "tokens", row.id, before, None)
        return "", 204


class ClientIn(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), no_nul])
    grant_type = fields.String(
        load_default=CLIENT_CREDENTIALS,
        validate=validate.OneOf([CLIENT_CREDENTIALS, AUTHORIZATION_CODE]),
        metadata={
            "description": "client_credentials: an integration acting as user_id. authorization_code: "
            "a third-party app acting as each user who approves it (PKCE S256 required)."
        },
    )
    user_id = fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "client_credentials only"}
    )
    scopes = fields.List(
        fields.String(validate=no_nul),
        required=True,
        metadata={"description": "An app: the most it may ask for; each user grants only what they hold."},
    )
    redirect_uris = fields.List(
        fields.String(validate=no_nul),
        load_default=list,
        metadata={"description": "authorization_code only: exact-match https URLs (http for localhost)"},
    )
    public = fields.Boolean(
        load_default=False,
        metadata={"description": "authorization_code only: a public app (no secret; PKCE alone)"},
    )


class ClientOut(Schema):
    id = fields.Integer()
    client_id = fields.String()
    name = fields.String()
    user_id = fields.Integer(allow_none=True)
    grant_type = fields.String()
    scopes = fields.List(fields.String())
    redirect_uris = fields.List(fields.String())
    public = fields.Boolean()
    created_at = fields.String()
    revoked_at = fields.String(allow_none=True)
    client_secret = fields.String(
        allow_none=True,
        metadata={"description": "Only in the answer to POST: shown once (null for a public app)."},
    )


def client_dict(row: OAuthClient) -> dict:
    """JSON view of an OAuth2 client (never its secret)."""
    return {
        "id": row.id,
        "client_id": row.client_id,
        "name": row.name,
        "user_id": row.user_id,
        "grant_type": AUTHORIZATION_CODE if row.is_app else CLIENT_CREDENTIALS,
        "scopes": row.scopes.split(),
        "redirect_uris": row.redirect_uris.split(),
        "public": row.public,
        "created_at": _iso(row.created_at),
        "revoked_at": _iso(row.revoked_at),
    }


def check_client_delegation(actor, data: dict) -> None:
    """403 unless ``actor`` may create a client acting for ``data["user_id"]`` with
    ``data["scopes"]``; malformed input is left to ``create_client`` (422). An app acts as no
    one until a user approves it, and then with at most that user's rights, so only its scope
    strings are checked (by ``create_client``)."""
    if data.get("grant_type") == AUTHORIZATION_CODE:
        return
    if data.get("user_id") != actor.id:
        user = User.get_or_none(User.id == data.get("user_id"))
        if user is not None:
            permissions.require_covers_user(
                actor,
                user,
                field="user_id",
                message=f"You cannot create a client acting as {user.username!r}: they hold "
                "permissions you do not.",
            )
    if not permissions.validate_scope_strings(data.get("scopes")):
        permissions.require_covers_scopes(actor, data["scopes"])


@clients_blp.route("")
class Clients(MethodView):
    @clients_blp.response(200, ClientOut(many=True))
    def get(self):
        """Every OAuth2 client."""
        actor = current_actor()
        permissions.require(actor, "oauth_clients", "read")
        return json_response([client_dict(c) for c in OAuthClient.select().order_by(OAuthClient.id)])

    @clients_blp.arguments(ClientIn)
    @clients_blp.response(201, ClientOut)
    def post(self, data):
        """Create a client; the secret is shown once (stored hashed).

        ``grant_type=client_credentials`` (default): acts for ``user_id`` with ``scopes``. No
        escalation: the client acts for the caller or for a user whose every grant the caller
        holds (403 ``errors.user_id`` otherwise), and its scopes allow nothing the caller may not
        do itself (403 ``errors.scopes``).

        ``grant_type=authorization_code``: a third-party app with ``redirect_uris`` (exact match;
        https, or http for localhost) that may ask for ``scopes``; ``public: true`` for an app
        that cannot keep a secret (no secret is issued). 422 with per-field errors."""
        actor = current_actor()
        permissions.require(actor, "oauth_clients", "create")
        check_client_delegation(actor, data)
        with database.atomic():
            row, secret = create_client(
                data["name"],
                data["user_id"],
                data["scopes"],
                created_by=actor.id,
                grant_type=data["grant_type"],
                redirect_uris=data["redirect_uris"],
                public=data["public"],
            )
            record_change("create", "oauth_clients", row.id, None, client_dict(row))
        return json_response({**client_dict(row), "client_secret": secret}, 201)


@clients_blp.route("/<client_pk>")
class ClientItem(MethodView):
    @clients_blp.response(204)
    def delete(self, client_pk):
        """Revoke a client and all of its tokens."""
        actor = current_actor()
        permissions.require(actor, "oauth_clients", "delete")
        row = OAuthClient.get_or_none(OAuthClient.id == int_id(client_pk, "OAuth client"))
        if row is None:
            raise APIError(404, f"No OAuth client {client_pk}.")
        with database.atomic():
            before = client_dict(row)
            revoke_client(row)
            record_change("delete", "oauth_clients", row.id, before, None)
        return "", 204


class OAuthTokenOut(Schema):
    """RFC 6749 §5.1 access token response."""

    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer()
    scope = fields.String(metadata={"description": "The scopes granted (may be fewer than asked)"})
    refresh_token = fields.String(
        metadata={"description": "authorization_code and refresh_token grants: single use, rotated"}
    )


OAUTH_TOKEN_FORM = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {
                        "type": "string",
                        "enum": ["client_credentials", "authorization_code", "refresh_token"],
                    },
                    "scope": {"type": "string"},
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"},
                    "code": {
                        "type": "string",
                        "description": "The code the app received (authorization code).",
                    },
                    "redirect_uri": {
                        "type": "string",
                        "description": "Exactly as in the authorization request.",
                    },
                    "code_verifier": {"type": "string", "description": "The PKCE verifier (RFC 7636)."},
                    "refresh_token": {"type": "string", "description": "The refresh token to rotate."},
                },
            }
        }
    },
}


@oauth_blp.route("/token", methods=["POST"])
@public
@oauth_blp.doc(requestBody=OAUTH_TOKEN_FORM, security=[{}])
@oauth_blp.alt_response(200, schema=OAuthTokenOut, description="The access token", success=True)
def oauth_token():
    """OAuth2 token endpoint (RFC 6749): ``client_credentials`` (§4.4), ``authorization_code``
    with PKCE (§4.1, RFC 7636: ``code``, ``redirect_uri`` exactly as in the authorization
    request, ``code_verifier``) and ``refresh_token`` (§6; rotated: the answer carries a new
    one and the old one is dead; presenting it again revokes the whole authorization).

    A confidential client authenticates with HTTP Basic or ``client_id``/``client_secret`` form
    fields, a public app sends only ``client_id``. Errors are RFC 6749 §5.2 JSON (``error``:
    ``invalid_request``, ``invalid_client`` (401), ``invalid_grant``, ``unauthorized_client``,
    ``unsupported_grant_type``, ``invalid_scope``; ``error_description`` says why). Failed
    requests are rate-limited per IP like the login.
    """
    check_login_rate("oauth")
    response = token_response()
    if response.status_code in (400, 401):
        count_login_failure("oauth")
    return response


OAUTH_REVOKE_FORM = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["token"],
                "properties": {
                    "token": {"type": "string"},
                    "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"},
                },
            }
        }
    },
}


@oauth_blp.route("/revoke", methods=["POST"])
@public
@oauth_blp.doc(requestBody=OAUTH_REVOKE_FORM, security=[{}])
@oauth_blp.alt_response(200, description="Revoked, or not a live token of this client", success=True)
def oauth_revoke():
    """OAuth2 token revocation (RFC 7009): the client that holds ``token`` revokes it.

    A refresh token revokes its whole authorization (every access and refresh token issued from
    the same approval); an access token only itself. An unknown token is a 200 too (§2.2).
    Client authentication as at the token endpoint.
    """
    check_login_rate("oauth")
    response = revocation_response()
    if response.status_code in (400, 401):
        count_login_failure("oauth")
    return response
