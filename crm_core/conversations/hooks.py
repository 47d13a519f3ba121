"""The conversation archive as a core capability: its tables, the ``conversations`` resource, the
pull job, the WeCom source (when configured), retention, erasure, and ``crm conversations``."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import lazy_gettext as _l

from .. import hookimpl
from ..auth import current_actor
from ..config import Setting
from ..crypto.rotation import SealedValues
from . import wecom
from .models import MODELS, Conversation, Identity, Message, SourceCursor
from .pull import pull_all, sources
from .reading import export_for
from .retention import DEFAULT_DAYS, RETENTION_SETTING, purge
from .store import content_context

requires = ("core.auth", "core.permissions", "core.entities", "core.audit", "core.crypto")

PULL_MINUTES = 5

log = logging.getLogger(__name__)


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_permissions():
    return [
        {
            "resource": "conversations",
            "actions": ["read", "create"],
            "label": _l("Conversation archive"),
            "sensitive": True,
        }
    ]


@hookimpl
def crm_settings():
    return {
        RETENTION_SETTING: Setting(int, DEFAULT_DAYS, "days archived messages are kept (default 3 years)"),
        wecom.PREFIX + "CORP_ID": Setting(str, "", "WeCom chat archive: the corp id"),
        wecom.PREFIX + "SECRET": Setting(str, "", "WeCom chat archive: the archive secret"),
        wecom.PREFIX + "BASE_URL": Setting(str, "", "WeCom chat archive: URL of the Finance SDK bridge"),
        wecom.PREFIX + "PRIVATE_KEY_FILE": Setting(
            str, "", "WeCom chat archive: RSA private key PEM file, or ver=path,ver=path per publickey_ver"
        ),
        wecom.PREFIX + "PADDING": Setting(str, "pkcs1", "WeCom chat archive: RSA padding, pkcs1 or oaep"),
    }


@hookimpl
def crm_jobs():
    return [
        {
            "id": "core.conversations:pull",
            "func": pull_all,
            "trigger": "interval",
            "minutes": PULL_MINUTES,
            # WeCom keeps messages for a few days only: a missed run must still run
            "misfire_grace_time": 3600,
            "description": "Pull new messages from every conversation archive.",
        }
    ]


@hookimpl
def crm_conversation_sources():
    config = current_app.config
    if not wecom.configured(config):
        return []
    try:
        return [wecom.source(config)]
    except ValueError as exc:  # a misconfigured archive must not hide the other sources
        log.error("the WeCom archive is not pulled: %s", exc)
        return []


@hookimpl
def crm_retention_policies():
    return [
        {
            "name": "conversations",
            "model": Message,
            "field": Message.sent_at,
            "setting": RETENTION_SETTING,
            "default_days": DEFAULT_DAYS,
            "purge": purge,
        }
    ]


@hookimpl
def crm_record_written(change):
    # a conversation's row scope is its customer's: follow a reassignment in the same transaction
    if change.resource != "customers" or change.action != "update":
        return
    if not {"owner_id", "department_id"} & set(change.changed):
        return
    after = change.after or {}
    Conversation.update(owner_id=after.get("owner_id"), department_id=after.get("department_id")).where(
        Conversation.customer == change.record_id
    ).execute()


@hookimpl
def crm_export_customer(customer):
    # the export's reader is the request's actor; conversations are in it only if they may read them
    conversations = export_for(customer, current_actor(required=False))
    return None if conversations is None else {"conversations": conversations}


@hookimpl
def crm_erase_customer(customer):
    # bound content dies with the customer's key (the erasure shreds customers/<id>); what was
    # stored before the conversation was mapped to them is bound to no one: blank it here
    conversations = Conversation.select(Conversation.id).where(Conversation.customer == customer.id)
    Message.update(content=None, subject=f"customers/{customer.id}", attachments=[]).where(
        Message.conversation.in_(conversations), Message.subject.is_null(True)
    ).execute()
    Conversation.update(participants=[]).where(Conversation.customer == customer.id).execute()
    Identity.delete().where(Identity.customer == customer.id).execute()


@hookimpl
def crm_cli(group):
    @group.group("conversations")
    def conversations_group():
        """The conversation archive: its sources and their cursors."""

    @conversations_group.command("sources")
    @with_appcontext
    def sources_command():
        """Each archive source with its cursor, messages stored and last error."""
        cursors = {row.source: row for row in SourceCursor.select()}
        names = sorted(set(sources()) | set(cursors))
        if not names:
            click.echo("no conversation source (configure WeCom, or install a plugin that offers one)")
        for name in names:
            row = cursors.get(name)
            pulled = f"{row.pulled_at:%Y-%m-%d %H:%M}" if row and row.pulled_at else "never"
            line = f"{name}\tcursor={row.cursor if row else None}\tmessages={row.messages if row else 0}\t{pulled}"
            if row and row.last_error:
                line += f"\tERROR: {row.last_error.splitlines()[0]}"
            click.echo(line)


@hookimpl
def crm_sealed_values():
    """Message contents, for key rotation (their context is made from the message's source and id)."""
    return [
        SealedValues(
            "conversations.messages",
            Message,
            Message.content,
            context=lambda _row_id, source, external_id: content_context(source, external_id),
            context_columns=(Message.source, Message.external_id),
        )
    ]
