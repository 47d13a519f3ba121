"""A test plugin implementing every hook of ``crm_core.hookspecs``, recording each call.

``tests/test_every_hook.py`` installs it as an entry point (the way plugins really load), drives the
app through HTTP, the CLI, migrations and the demo data, and checks that the app called every hook
with arguments of the annotated types. Each hook returns something small but real, so the app goes
on to the next step (a job to run, an action to list, a menu entry to render).
"""

from __future__ import annotations

import datetime as dt
import os

import peewee as pw
from marshmallow import Schema

from crm_core import hookimpl
from crm_core.config import Setting
from crm_core.plugin_api import MessageChannel, SealedValues, SendResult, database, seal_value, utcnow

#: (hook name, keyword arguments) of every call, in order
CALLS: list[tuple[str, dict]] = []


def _called(name: str, **kwargs) -> None:
    CALLS.append((name, kwargs))


def tick() -> None:
    """The plugin's job: recorded, so a test sees ``crm jobs run`` reach it."""
    _called("every_hook:tick")


def touch(params, event, customer) -> None:
    """The plugin's automation action (listed only: no rule runs it)."""


@hookimpl
def crm_startup(app):
    _called("crm_startup", app=app)


@hookimpl
def crm_settings():
    _called("crm_settings")
    return {"EVERY_HOOK_GREETING": Setting(str, "hello", "what the test plugin says")}


@hookimpl
def crm_models():
    _called("crm_models")
    return []


@hookimpl
def crm_migrations():
    _called("crm_migrations")
    return None


class Secret(pw.Model):
    """A value the plugin keeps encrypted itself (an envelope token), declared for key rotation."""

    token = pw.TextField()

    class Meta:
        database = database
        table_name = "every_hook_secret"


class Note(pw.Model):
    """The plugin's one table, made after migrating: notes kept for a week (its retention)."""

    written_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "every_hook_note"


@hookimpl
def crm_after_migrate(app):
    _called("crm_after_migrate", app=app)
    # a table and two notes, one far older than its retention, for ``crm retention run``
    Note.create_table(safe=True)
    Secret.create_table(safe=True)
    if not Note.select().exists():
        Note.create(written_at=dt.datetime(2000, 1, 1))
        Note.create()


@hookimpl
def crm_retention_policies():
    _called("crm_retention_policies")
    return [{"name": "every_hook.notes", "model": Note, "field": Note.written_at, "default_days": 7}]


@hookimpl
def crm_entities():
    _called("crm_entities")
    return []


@hookimpl
def crm_permissions():
    _called("crm_permissions")
    return [{"resource": "every_hook.things", "actions": ["read"], "label": "Every hook things"}]


@hookimpl
def crm_permission_check(actor, action, resource, record):
    _called("crm_permission_check", actor=actor, action=action, resource=resource, record=record)
    return None


@hookimpl
def crm_permission_filter(actor, action, model, resource):
    _called("crm_permission_filter", actor=actor, action=action, model=model, resource=resource)
    return None


@hookimpl
def crm_blueprints():
    _called("crm_blueprints")
    return []


@hookimpl
def crm_web_blueprints():
    _called("crm_web_blueprints")
    return []


@hookimpl
def crm_jobs():
    _called("crm_jobs")
    return [{"id": "every_hook:tick", "func": tick, "trigger": "interval", "hours": 1}]


def fetch_chat(cursor, limit):
    """The plugin's conversation source: one web chat message, then nothing after its cursor."""
    _called("every_hook:fetch", cursor=cursor, limit=limit)
    if cursor is not None:
        return [], cursor
    message = {
        "external_id": "hello-1",
        "conversation": "chat-1",
        "sent_at": dt.datetime(2026, 3, 1, 9, 0),
        "sender": {"kind": "customer", "external_id": "visitor-1"},
        "type": "text",
        "content": "hello from every_hook",
    }
    return [message], "1"


@hookimpl
def crm_conversation_sources():
    _called("crm_conversation_sources")
    return [{"name": "every_hook", "channel": "webchat", "fetch": fetch_chat, "label": "Every hook chat"}]


@hookimpl
def crm_event(event):
    _called("crm_event", event=event)


@hookimpl
def crm_record_written(change):
    _called("crm_record_written", change=change)


@hookimpl
def crm_records_written(changes):
    _called("crm_records_written", changes=changes)


@hookimpl
def crm_actions():
    _called("crm_actions")
    return [{"name": "every_hook.touch", "label": "Touch", "schema": Schema(), "run": touch}]


@hookimpl
def crm_export_customer(customer):
    _called("crm_export_customer", customer=customer)
    return {"touched": True}


@hookimpl
def crm_erase_customer(customer):
    _called("crm_erase_customer", customer=customer)


@hookimpl
def crm_cli(group):
    _called("crm_cli", group=group)


@hookimpl
def crm_nav():
    _called("crm_nav")
    return [{"label": "Every hook", "endpoint": "web.dashboard", "permission": None, "kind": "menu"}]


@hookimpl
def crm_translations():
    _called("crm_translations")
    return []


@hookimpl
def crm_demo_data(context):
    _called("crm_demo_data", context=context)
    # sealed here, not when migrating: a migrated template database is copied for each test,
    # and a key made then would be wrapped by the template's master key
    if not Secret.select().exists():
        secret = Secret.create(token="")
        secret.token = seal_value("kept", f"every_hook/{secret.id}")
        secret.save()


def _wrap(key: bytes) -> bytes:
    """The plugin's key wrapper: AES-GCM under a key only this module holds (a KMS stand-in
    that really wraps: what it returns opens with nothing else)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(WRAPPING_KEY).encrypt(nonce, key, b"every_hook")


def _unwrap(blob: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(WRAPPING_KEY).decrypt(blob[:12], blob[12:], b"every_hook")


WRAPPING_KEY = bytes(range(32))


@hookimpl
def crm_key_wrappers():
    _called("crm_key_wrappers")
    return [{"name": "every_hook", "wrap": _wrap, "unwrap": _unwrap}]


@hookimpl
def crm_sealed_values():
    _called("crm_sealed_values")
    return [SealedValues("every_hook.secrets", Secret, Secret.token, context=lambda rid: f"every_hook/{rid}")]


def page(recipient, message):
    """The plugin's message channel: records the send (the test only queues one)."""
    _called("every_hook:page", recipient=recipient)
    return SendResult(True, "ok")


@hookimpl
def crm_message_channels():
    _called("crm_message_channels")
    return [MessageChannel(name="every_hook", kinds=("text",), send=page)]


@hookimpl
def crm_message_allowed(customer_id, purpose, channel):
    _called("crm_message_allowed", customer_id=customer_id, purpose=purpose, channel=channel)
    return None
