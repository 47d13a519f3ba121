"""The privacy capability as a plugin: its tables, permissions, settings, the job that forgets
kept exports, and the ``crm privacy`` commands (the endpoints are ``crm_core.api.privacy`` and
``crm_core.api.privacy_requests``)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext
from flask_babel import lazy_gettext as _l

from .. import hookimpl, permissions
from ..auth import actor_for_user
from ..auth.models import User
from ..config import Setting
from ..entities.models import Customer
from ..errors import APIError
from . import erase_customer, export_customer
from .models import KINDS, MODELS, STATUSES, PrivacyRequest
from .requests import (
    clear_expired_exports,
    get_request,
    is_overdue,
    process_request,
    reject_request,
    visible_requests,
)

requires = ("core.entities", "core.audit", "core.events", "core.permissions", "core.crypto")


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_settings():
    return {
        "CORE_PRIVACY_DUE_DAYS": Setting(
            int, 0, "days to answer a privacy request (0: one calendar month, GDPR Art. 12(3))"
        ),
        "CORE_PRIVACY_EXPORT_HOURS": Setting(
            int, 168, "hours a completed access/portability export is kept for download"
        ),
    }


@hookimpl
def crm_permissions():
    return [
        {
            "resource": "privacy.requests",
            "actions": ["read", "create", "process", "reject"],
            "label": _l("Privacy requests"),
            "sensitive": True,
        },
        {
            "resource": "privacy.consents",
            "actions": ["read", "create"],
            "label": _l("Consent records"),
            "sensitive": True,
        },
    ]


@hookimpl
def crm_nav():
    """The workbench page of privacy requests (``crm_core.web.privacy``), for those who read them."""
    return [
        {
            "label": _l("Privacy requests"),
            "endpoint": "web.privacy_requests",
            "permission": "privacy.requests:read",
            "order": 65,
        }
    ]


def _exports_job():
    clear_expired_exports()


@hookimpl
def crm_jobs():
    return [
        {
            "id": "core.privacy:exports",
            "func": _exports_job,
            "trigger": "interval",
            "minutes": 15,
            "description": "Forget privacy exports kept past CORE_PRIVACY_EXPORT_HOURS",
        }
    ]


def _actor(username: str):
    user = User.get_or_none(User.username == username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return actor_for_user(user)


def _cli_target(customer_id: int, username: str):
    """The customer and the acting user's ``Actor`` for a CLI command (the audit log names them)."""
    actor = _actor(username)
    try:
        customer = permissions.get_record(Customer, customer_id, actor, "customers", "read")
    except Exception:
        raise click.ClickException(f"no customer {customer_id} visible to {username}") from None
    return customer, actor


@hookimpl
def crm_cli(group):
    @group.group("privacy")
    def privacy():
        """Privacy requests (list, process), and export or erasure of a customer."""

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

    @privacy.command("requests")
    @click.option("--as", "username", required=True, help="The user looking (needs privacy.requests:read).")
    @click.option("--status", type=click.Choice(STATUSES), default=None)
    @click.option("--kind", type=click.Choice(KINDS), default=None)
    @click.option("--overdue", is_flag=True, help="Only open requests past their due time.")
    @with_appcontext
    def requests_command(username, status, kind, overdue):
        """List privacy requests, oldest due first."""
        actor = _actor(username)
        try:
            query = visible_requests(actor).order_by(PrivacyRequest.due_at, PrivacyRequest.id)
        except APIError as exc:
            raise click.ClickException(exc.description) from None
        if status:
            query = query.where(PrivacyRequest.status == status)
        if kind:
            query = query.where(PrivacyRequest.kind == kind)
        rows = [r for r in query if not overdue or is_overdue(r)]
        if not rows:
            click.echo("no privacy requests")
        for r in rows:
            late = "  OVERDUE" if is_overdue(r) else ""
            click.echo(
                f"#{r.id}\t{r.kind}\tcustomer {r.customer_id}\t{r.status}\tdue {r.due_at:%Y-%m-%d}{late}"
            )

    @privacy.command("process")
    @click.argument("request_id", type=int)
    @click.option("--as", "username", required=True, help="The handler (needs privacy.requests:process).")
    @with_appcontext
    def process_command(request_id, username):
        """Answer a request: export (kept for download) or erase; prints the outcome."""
        actor = _actor(username)
        try:
            request = process_request(get_request(request_id, actor), actor)
        except APIError as exc:
            raise click.ClickException(exc.description) from None
        if request.status == "failed":
            raise click.ClickException(f"request #{request.id} failed: {request.error}")
        click.echo(f"request #{request.id} ({request.kind}) {request.status}")

    @privacy.command("reject")
    @click.argument("request_id", type=int)
    @click.option("--as", "username", required=True, help="The handler (needs privacy.requests:reject).")
    @click.option("--reason", required=True, help="What the person will be told (PIPL Art. 50).")
    @with_appcontext
    def reject_command(request_id, username, reason):
        """Refuse a request, with the reason."""
        actor = _actor(username)
        if not reason.strip():
            raise click.ClickException("give the reason the person will be told")
        try:
            request = reject_request(get_request(request_id, actor), actor, reason.strip()[:2000])
        except APIError as exc:
            raise click.ClickException(exc.description) from None
        click.echo(f"request #{request.id} ({request.kind}) rejected")
