"""The identity capability as a plugin: models, migrations, login endpoint, CLI."""

from __future__ import annotations

from pathlib import Path

import click
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from .. import hookimpl
from ..api import API_PREFIX, Blueprint
from ..errors import APIError
from . import authenticate, create_user, current_actor, issue_token, load_request_actor, public, revoke_token
from .models import MODELS

blp = Blueprint("auth", __name__, url_prefix=f"{API_PREFIX}/auth", description="Login and tokens")


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024), load_only=True)


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
    def post(self, data):
        """Exchange a username and password for a bearer token."""
        user = authenticate(data["username"], data["password"])
        if user is None:
            raise APIError(401, "Wrong username or password.")
        raw, row = issue_token(user)
        expires_in = int((row.expires_at - row.created_at).total_seconds()) if row.expires_at else 0
        return {"access_token": raw, "token_type": "Bearer", "expires_in": expires_in}


@blp.route("/logout")
class Logout(MethodView):
    @blp.response(204)
    def post(self):
        """Revoke the token this request was made with."""
        from flask import request

        current_actor()
        revoke_token(request.headers["Authorization"][7:].strip())


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_blueprints():
    return [blp]


@hookimpl
def crm_startup(app):
    app.before_request(load_request_actor)


@hookimpl
def crm_cli(group):
    @group.command("create-user")
    @click.argument("username")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="The password.")
    @click.option("--role", "roles", multiple=True, help="A role name (repeatable); 'admin' is built in.")
    @click.option("--department", "department_id", type=int, default=None, help="Department id.")
    @click.option("--name", default="", help="Display name.")
    @click.option("--email", default=None, help="E-mail address.")
    def create_user_command(username, password, roles, department_id, name, email):
        """Create a user who can log in."""
        try:
            user = create_user(
                username, password, roles=roles, department_id=department_id, name=name, email=email
            )
        except APIError as exc:
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.data["errors"].items())
            raise click.ClickException(f"{exc.message} {details}".strip()) from None
        click.echo(f"created user {user.username} (id {user.id}, roles: {', '.join(roles) or 'none'})")
