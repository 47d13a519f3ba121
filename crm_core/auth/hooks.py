"""The identity capability as a plugin: models, migrations, the request actor, CLI."""

from __future__ import annotations

from pathlib import Path

import click

from .. import hookimpl
from ..errors import APIError
from . import (
    create_user,
    load_request_actor,
    oauth,
    ratelimit,
)
from .models import MODELS


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


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
