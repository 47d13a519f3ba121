"""Messaging as a core capability: its tables, the ``messaging`` resource, settings, the send
job, the configured channels (offered through ``crm_message_channels`` like any plugin's), key
rotation of their secrets, and the privacy export and erasure of a customer's deliveries."""

from __future__ import annotations

from pathlib import Path

from flask_babel import lazy_gettext as _l

from .. import hookimpl
from ..config import Setting
from ..crypto.rotation import SealedValues
from .config import KIND_SPECS, PREFIX, base_url_setting, configured, secret_context
from .models import FAILED, MODELS, REFUSED, SENT, MessageChannelConfig, MessageDelivery, MessageOptOut
from .sender import send_job

requires = ("core.auth", "core.audit", "core.crypto", "core.entities", "core.privacy")

SEND_SECONDS = 5
LOG_RETENTION_DAYS = 180


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
            "resource": "messaging",
            "actions": ["read", "send", "manage"],
            "label": _l("Messaging channels and deliveries"),
        }
    ]


@hookimpl
def crm_settings():
    settings = {
        PREFIX + "TIMEOUT_SECONDS": Setting(int, 10, "seconds to wait for a messaging platform's answer"),
        PREFIX + "MAX_ATTEMPTS": Setting(int, 6, "requests per message before it fails"),
        PREFIX + "RETRY_BASE_SECONDS": Setting(int, 30, "first retry delay of a message (doubling)"),
        PREFIX + "LOG_RETENTION_DAYS": Setting(
            int, LOG_RETENTION_DAYS, "days finished messages and their attempts are kept"
        ),
    }
    for kind, spec in KIND_SPECS.items():
        settings[base_url_setting(kind)] = Setting(str, spec["base_url"], f"base URL of the {kind} API")
    return settings


@hookimpl
def crm_jobs():
    return [
        {
            "id": "core.messaging:send",
            "func": send_job,
            "trigger": "interval",
            "seconds": SEND_SECONDS,
            "description": "Send queued messages (robots, SMS) within each channel's rate limits.",
        }
    ]


@hookimpl
def crm_retention_policies():
    # finished deliveries only (their attempts go with them); the per-number caps look back a day
    return [
        {
            "name": "message_deliveries",
            "model": MessageDelivery,
            "field": MessageDelivery.created_at,
            "where": MessageDelivery.status.in_([SENT, FAILED, REFUSED]),
            "setting": PREFIX + "LOG_RETENTION_DAYS",
            "default_days": LOG_RETENTION_DAYS,
            "min_days": 2,
        }
    ]


@hookimpl
def crm_message_channels():
    return configured()


@hookimpl
def crm_sealed_values():
    """Channel secrets, for key rotation."""
    return [
        SealedValues(
            "messaging.channels", MessageChannelConfig, MessageChannelConfig.secret, context=secret_context
        )
    ]


@hookimpl
def crm_export_customer(customer):
    rows = (
        MessageDelivery.select()
        .where(MessageDelivery.customer_id == customer.id)
        .order_by(MessageDelivery.id)
    )
    deliveries = [
        {
            "id": d.id,
            "channel": d.channel,
            "purpose": d.purpose,
            "status": d.status,
            "created_at": d.created_at,
            "sent_at": d.sent_at,
        }
        for d in rows
    ]
    opt_outs = [
        {"channel_kind": o.channel_kind, "source": o.source, "created_at": o.created_at}
        for o in MessageOptOut.select().where(MessageOptOut.customer_id == customer.id)
    ]
    if not deliveries and not opt_outs:
        return None
    return {"messages": deliveries, "message_opt_outs": opt_outs}


@hookimpl
def crm_erase_customer(customer):
    # the log keeps that a message went (accounts of sends), not to whom or what it said
    MessageDelivery.update(recipient={}, message={}, address=None).where(
        MessageDelivery.customer_id == customer.id
    ).execute()
