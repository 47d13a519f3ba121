"""Privacy export and erasure as CLI commands (the endpoints are ``crm_core.api.privacy``)."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from .. import hookimpl, permissions
from ..auth import actor_for_user
from ..auth.models import User
from ..entities.models import Customer
from . import erase_customer, export_customer

requires = ("core.entities", "core.audit", "core.events")


def _cli_target(customer_id: int, username: str):
    """The customer and the acting user's ``Actor`` for a CLI command (the audit log names them)."""
    user = User.get_or_none(User.username == username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    actor = actor_for_user(user)
    try:
        customer = permissions.get_record(Customer, customer_id, actor, "customers", "read")
    except Exception:
        raise click.ClickException(f"no customer {customer_id} visible to {username}") from None
    return customer, actor


@hookimpl
def crm_cli(group):
    @group.group("privacy")
    def privacy():
        """Export or erase what is stored about a customer."""

    @privacy.command("export")
    @click.argument("customer_id", type=int)
    @click.option("--as", "username", required=True, help="The user doing it (needs customers:export).")
    @with_appcontext
    def export_command(customer_id, username):
        """Print the privacy export of a customer as JSON."""
        customer, actor = _cli_target(customer_id, username)
        permissions.require(actor, "customers", "export", customer)
        click.echo(json.dumps(export_customer(customer, actor), ensure_ascii=False, indent=2))

    @privacy.command("erase")
    @click.argument("customer_id", type=int)
    @click.option("--as", "username", required=True, help="The user doing it (needs customers:delete).")
    @click.option("--yes", is_flag=True, help="Confirm the irreversible erasure.")
    @with_appcontext
    def erase_command(customer_id, username, yes):
        """Anonymise a customer across core and plugins."""
        customer, actor = _cli_target(customer_id, username)
        if not yes:
            raise click.ClickException("erasure is irreversible: add --yes to confirm")
        permissions.require(actor, "customers", "delete", customer)
        counts = erase_customer(customer, actor)
        click.echo(f"erased customer {customer_id}: {counts}")
