"""Channels an admin configures (robots, SMS accounts): their rows, sealed secrets, and the
:class:`MessageChannel` each becomes.

A row's ``secret`` is one envelope token (``crm_core.crypto.seal_value``, context
``message_channel/<id>/secret``) of a JSON object: the WeCom ``key``, the DingTalk
``access_token`` and ``secret``... It is opened only to send; reads show which secrets are set
(``secrets_set``), never their values. Base URLs come from settings
(``CORE_MESSAGING_<PLATFORM>_BASE_URL``), so tests aim the senders at local fake servers.
"""

from __future__ import annotations

import re

from flask import current_app

from ..audit import record_event
from ..crypto import open_value, seal_value
from ..db import utcnow, write_transaction
from . import robots, sms
from .channels import MessageChannel
from .models import MessageChannelConfig

PREFIX = "CORE_MESSAGING_"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

#: kind -> secrets (required ones first), optional settings, default base URL, channel kind
KIND_SPECS = {
    "wecom_robot": {
        "secrets": ("key",),
        "required": ("key",),
        "settings": ("templates",),
        "base_url": "https://qyapi.weixin.qq.com",
        "channel_kind": "robot",
    },
    "dingtalk_robot": {
        "secrets": ("access_token", "secret"),
        "required": ("access_token",),
        "settings": ("keywords", "templates"),
        "base_url": "https://oapi.dingtalk.com",
        "channel_kind": "robot",
    },
    "feishu_bot": {
        "secrets": ("token", "secret"),
        "required": ("token",),
        "settings": ("keywords", "templates"),
        "base_url": "https://open.feishu.cn",
        "channel_kind": "robot",
    },
    "sms_aliyun": {
        "secrets": ("access_key_id", "access_key_secret", "callback_token"),
        "required": ("access_key_id", "access_key_secret"),
        "settings": ("sign_name", "templates", "caps"),
        "base_url": "https://dysmsapi.aliyuncs.com",
        "channel_kind": "sms",
    },
    "sms_tencent": {
        "secrets": ("secret_id", "secret_key", "callback_token"),
        "required": ("secret_id", "secret_key"),
        "settings": ("sign_name", "sdk_app_id", "region", "templates", "caps"),
        "base_url": "https://sms.tencentcloudapi.com",
        "channel_kind": "sms",
    },
}


def base_url_setting(kind: str) -> str:
    """The setting naming ``kind``'s base URL: ``CORE_MESSAGING_WECOM_ROBOT_BASE_URL``..."""
    return f"{PREFIX}{kind.upper()}_BASE_URL"


def secret_context(row_id: int) -> str:
    """The crypto context of a channel row's secret (binds the token to its row)."""
    return f"message_channel/{row_id}/secret"


class ChannelConfigError(ValueError):
    """Bad channel configuration: ``errors`` is ``{field: [message]}``."""

    def __init__(self, errors: dict):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def _check(kind: str, settings: dict, secrets: dict, creating: bool) -> None:
    spec = KIND_SPECS.get(kind)
    if spec is None:
        raise ChannelConfigError({"kind": ["Unknown channel kind."]})
    errors = {}
    for name in settings:
        if name not in spec["settings"]:
            errors[f"settings.{name}"] = ["Unknown setting for this kind."]
    for name, value in secrets.items():
        if name not in spec["secrets"]:
            errors[f"secrets.{name}"] = ["Unknown secret for this kind."]
        elif not isinstance(value, str) or not value.strip():
            errors[f"secrets.{name}"] = ["Must be a non-empty string."]
    if creating:
        for name in spec["required"]:
            if name not in secrets:
                errors[f"secrets.{name}"] = ["Missing data for required field."]
    for name in ("keywords",):
        value = settings.get(name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            errors[f"settings.{name}"] = ["A list of strings."]
    templates = settings.get("templates")
    if templates is not None and not isinstance(templates, dict):
        errors["settings.templates"] = ["An object: template name -> template."]
    caps = settings.get("caps")
    if caps is not None:
        ok = isinstance(caps, list) and all(
            isinstance(c, list) and len(c) == 2 and all(isinstance(x, int) and x > 0 for x in c) for c in caps
        )
        if not ok:
            errors["settings.caps"] = ["A list of [count, seconds] pairs of positive integers."]
    if errors:
        raise ChannelConfigError(errors)


def channel_dict(row: MessageChannelConfig) -> dict:
    """The API image of a channel: never a secret, only the names of those set."""
    secret_names = []
    if row.secret:
        secret_names = sorted(open_value(row.secret, secret_context(row.id)))
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "label": row.label,
        "settings": row.settings,
        "active": row.active,
        "secrets_set": secret_names,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def create_channel(actor, data: dict) -> MessageChannelConfig:
    """A new channel from ``{"name", "kind", "label"?, "settings"?, "secrets", "active"?}``;
    raises :class:`ChannelConfigError`. Audited without the secrets."""
    name, kind = str(data.get("name") or ""), str(data.get("kind") or "")
    settings, secrets = dict(data.get("settings") or {}), dict(data.get("secrets") or {})
    if not NAME_RE.match(name):
        raise ChannelConfigError({"name": ["Lower-case letters, digits, - _ . (at most 64)."]})
    _check(kind, settings, secrets, creating=True)
    with write_transaction():
        if MessageChannelConfig.select().where(MessageChannelConfig.name == name).exists():
            raise ChannelConfigError({"name": ["A channel of this name exists."]})
        row = MessageChannelConfig.create(
            name=name,
            kind=kind,
            label=str(data.get("label") or "")[:200],
            settings=settings,
            active=bool(data.get("active", True)),
        )
        row.secret = seal_value(secrets, secret_context(row.id))
        row.save(only=[MessageChannelConfig.secret])
        record_event(
            actor,
            "message_channel_created",
            "messaging",
            row.id,
            {"name": name, "kind": kind, "secrets_set": sorted(secrets)},
        )
    return row


def update_channel(actor, row: MessageChannelConfig, data: dict) -> MessageChannelConfig:
    """Change a channel's label, settings, active flag or some of its secrets (those given
    replace the stored ones); audited without the secrets."""
    settings = dict(data["settings"]) if "settings" in data else dict(row.settings or {})
    secrets = dict(data.get("secrets") or {})
    _check(row.kind, settings, secrets, creating=False)
    with write_transaction():
        if secrets:
            stored = open_value(row.secret, secret_context(row.id)) if row.secret else {}
            row.secret = seal_value({**stored, **secrets}, secret_context(row.id))
        row.settings = settings
        if "label" in data:
            row.label = str(data["label"] or "")[:200]
        if "active" in data:
            row.active = bool(data["active"])
        row.updated_at = utcnow()
        row.save()
        changed = sorted(k for k in data if k != "secrets") + [f"secrets.{k}" for k in sorted(secrets)]
        record_event(
            actor, "message_channel_updated", "messaging", row.id, {"name": row.name, "changed": changed}
        )
    return row


def delete_channel(actor, row: MessageChannelConfig) -> None:
    """Remove a channel (its deliveries stay in the log); audited."""
    with write_transaction():
        row.delete_instance()
        record_event(
            actor, "message_channel_deleted", "messaging", row.id, {"name": row.name, "kind": row.kind}
        )


def build(row: MessageChannelConfig) -> MessageChannel:
    """The channel a configured row is: its adapter bound to the row's settings, with the secrets
    opened at each send (a secret changed meanwhile is used at once)."""
    spec = KIND_SPECS[row.kind]
    settings = dict(row.settings or {})
    config = current_app.config
    base_url = config.get(base_url_setting(row.kind)) or spec["base_url"]
    timeout = float(config.get(PREFIX + "TIMEOUT_SECONDS") or 10)
    row_id, token = row.id, row.secret

    def secrets() -> dict:
        return open_value(token, secret_context(row_id)) if token else {}

    common = {
        "name": row.name,
        "label": row.label or row.name,
        "channel_kind": spec["channel_kind"],
        "plugin": "core.messaging",
    }
    if row.kind in ("sms_aliyun", "sms_tencent"):
        adapter = sms.aliyun_send if row.kind == "sms_aliyun" else sms.tencent_send

        def send(recipient, message):
            return adapter(base_url, settings, secrets(), timeout)[0](recipient, message)

        def query(recipient, message):
            return adapter(base_url, settings, secrets(), timeout)[1](recipient, message)

        return MessageChannel(
            kinds=("template",),
            send=send,
            query=query,
            limits=sms.limits_for(settings),
            prepare=sms.prepare_sms(settings.get("templates") or {}, named=row.kind == "sms_aliyun"),
            **common,
        )
    keywords = settings.get("keywords") or []
    if row.kind == "wecom_robot":
        limits = robots.WECOM_LIMITS

        def send(recipient, message):
            return robots.wecom_send(base_url, secrets()["key"], timeout)(recipient, message)
    elif row.kind == "dingtalk_robot":
        limits = robots.DINGTALK_LIMITS

        def send(recipient, message):
            s = secrets()
            return robots.dingtalk_send(base_url, s["access_token"], s.get("secret", ""), keywords, timeout)(
                recipient, message
            )
    else:
        limits = robots.FEISHU_LIMITS

        def send(recipient, message):
            s = secrets()
            return robots.feishu_send(base_url, s["token"], s.get("secret", ""), keywords, timeout)(
                recipient, message
            )

    return MessageChannel(
        kinds=("text", "markdown", "template"),
        send=send,
        limits=limits,
        prepare=robots.prepare_robot(settings.get("templates") or {}),
        **common,
    )


def configured() -> list[MessageChannel]:
    """Every active configured channel (what ``core.messaging`` offers ``crm_message_channels``)."""
    rows = MessageChannelConfig.select().where(MessageChannelConfig.active == True)  # noqa: E712
    return [build(row) for row in rows if row.kind in KIND_SPECS]


def callback_token(name: str) -> tuple[MessageChannelConfig | None, str]:
    """The SMS channel ``name`` and its ``callback_token`` secret ("" when none is set: its
    reply callback is off)."""
    row = MessageChannelConfig.get_or_none(MessageChannelConfig.name == name)
    if row is None or not row.kind.startswith("sms_") or not row.secret:
        return None, ""
    return row, str(open_value(row.secret, secret_context(row.id)).get("callback_token") or "")
