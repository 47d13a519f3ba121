"""The identity capability as a plugin: models, migrations, login endpoint, CLI."""

from __future__ import annotations

from pathlib import Path

import click
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from .. import hookimpl
from ..api import API_PREFIX, Blueprint
from ..errors import APIError
from . import (
    create_user,
    current_actor,
    issue_token,
    load_request_actor,
    login,
    oauth,
    public,
    ratelimit,
    record_change,
    revoke_token,
)
from .api_common import no_nul
from .api_departments import blp as departments_blp
from .api_tokens import clients_blp, oauth_blp, tokens_blp
from .api_users import blp as users_blp
from .models import MODELS
from .ratelimit import login_attempt

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
    return [blp, tokens_blp, users_blp, departments_blp, clients_blp, oauth_blp]


@hookimpl
def crm_startup(app):
    app.before_request(load_request_actor)
    # after load_request_actor, so limits can count per token / OAuth client
    ratelimit.install(app)
    oauth.install(app)


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

    @group.group("departments")
    def departments_group():
        """The department tree."""

    @departments_group.command("list")
    def list_departments():
        """Every department, indented by depth."""
        from .models import Department

        for d in Department.select().order_by(Department.path):
            click.echo(f"{'  ' * (d.path.strip('/').count('/'))}{d.name} (id {d.id})")

    @departments_group.command("create")
    @click.argument("name")
    @click.option("--parent", "parent_id", type=int, default=None, help="Parent department id.")
    def create_department_command(name, parent_id):
        """Create a department (below --parent)."""
        from ..db import database
        from .api_departments import department_dict
        from .departments import create_department

        try:
            with database.atomic():
                dept = create_department(name, parent_id)
                record_change("create", "departments", dept.id, None, department_dict(dept))
        except APIError as exc:
            raise click.ClickException(f"{exc.message} {exc.data['errors']}") from None
        click.echo(f"created department {dept.name} (id {dept.id}, path {dept.path})")
