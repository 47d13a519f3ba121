"""Login and logout: a username and password for a bearer token, and revoking it."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ..auth import current_actor, issue_token, login, public, revoke_token
from ..auth.ratelimit import login_attempt
from . import API_PREFIX, Blueprint
from .common import no_nul

blp = Blueprint("auth", __name__, url_prefix=f"{API_PREFIX}/auth", description="Login and tokens")


class LoginSchema(Schema):
    username = fields.String(required=True, validate=[validate.Length(min=1, max=150), no_nul])
    password = fields.String(
        required=True, validate=[validate.Length(min=1, max=1024), no_nul], load_only=True
    )


class TokenSchema(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


@blp.route("/token")
@public
class Token(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(401, description="Wrong username or password")
    @blp.alt_response(429, description="Too many attempts from this address, or the user is locked out")
    def post(self, data):
        """Exchange a username and password for a bearer token.

        Failed attempts are limited per IP (``CRM_RATELIMIT_LOGIN``), and a user is locked out for a
        while after ``CRM_LOGIN_MAX_FAILURES`` failures in a row (429 with ``Retry-After``)."""
        with login_attempt():
            user = login(data["username"], data["password"])
        raw, row = issue_token(user)
        expires_in = int((row.expires_at - row.created_at).total_seconds()) if row.expires_at else 0
        return {"access_token": raw, "token_type": "Bearer", "expires_in": expires_in}


@blp.route("/logout")
class Logout(MethodView):
    @blp.response(204)
    def post(self):
        """Revoke the token this request was made with."""
        current_actor()
        revoke_token(request.headers["Authorization"][7:].strip())
