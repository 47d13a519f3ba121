"""What a message channel is, and the channels there are.

A channel (:class:`MessageChannel`) is what ``crm_message_channels`` returns: a ``name`` senders
use, the message ``kinds`` it takes (``text``, ``markdown``, ``template``), its platform
``limits`` (:class:`ChannelLimits`), and ``send(recipient, message) -> SendResult``. The core's
robots and SMS accounts are channels too: ``core.messaging`` returns one per configured row of
``message_channel`` (``crm_core.messaging.config``), so a plugin's channel is used exactly like
WeCom's.

Sends are split by UTF-8 bytes here (``split_utf8``), before any request, because platforms
reject an over-long message instead of truncating it (WeCom text 2,048 bytes).
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import logging
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app

from ..db import utcnow

log = logging.getLogger(__name__)

KINDS = ("text", "markdown", "template")
_clock: contextvars.ContextVar = contextvars.ContextVar("crm_messaging_clock", default=None)


def now() -> dt.datetime:
    """The messaging clock (naive UTC): the time a send job runs as (tests move it), else now.
    Signatures' timestamps come from it, so a test checks a platform's clock window."""
    return _clock.get() or utcnow()


#: a message never becomes more than this many platform messages
MAX_PARTS = 5


@dataclass(frozen=True)
class ChannelLimits:
    """A platform's limits: ``windows`` of ``(requests, seconds)`` (WeCom ``((20, 60),)``; none:
    unlimited), the block it imposes after going over (``block_seconds``: DingTalk 600), the UTF-8
    ``max_bytes`` of each message kind, and caps per phone number (``per_address``:
    ``((1, 60), (5, 3600), (10, 86400))``)."""

    windows: tuple = ()
    block_seconds: int = 0
    max_bytes: dict = field(default_factory=dict)
    per_address: tuple = ()


@dataclass
class SendResult:
    """How one request ended. ``retryable``: a network error or a rate-limit code (never a bad
    key or signature). ``retry_after``: seconds the platform asks to wait (a block).
    ``ambiguous``: the request may have reached the provider (a timeout), so it is not sent again
    before ``query`` says it did not arrive."""

    ok: bool
    code: str = ""
    message: str = ""
    retryable: bool = False
    retry_after: float | None = None
    provider_ref: str | None = None
    ambiguous: bool = False


@dataclass(frozen=True)
class MessageChannel:
    """One channel (``crm_message_channels``). ``send(recipient, message)``: ``recipient`` is the
    resolved ``to`` (``group``, ``customer_id``, ``user_id``, ``phone``, ``mobiles``) and
    ``message`` the prepared message with its idempotency ``key``, and for a split message
    ``part``/``parts``. ``prepare(message)`` (optional) checks and renders a message when it is
    queued (raise ``ValueError`` to refuse it); ``query(recipient, message)`` (optional) says
    whether an ambiguous send arrived (a ``SendResult``, or None when unknown).
    ``channel_kind`` groups channels for opt-outs (``sms``, ``robot``)."""

    name: str
    kinds: tuple
    send: Callable
    limits: ChannelLimits = ChannelLimits()
    label: str = ""
    channel_kind: str = "robot"
    prepare: Callable | None = None
    query: Callable | None = None
    plugin: str = ""


def split_utf8(text: str, max_bytes: int) -> list[str]:
    """``text`` in parts of at most ``max_bytes`` UTF-8 bytes, cut at a line break when one is in
    the second half of a part, never inside a character."""
    if max_bytes <= 0 or len(text.encode()) <= max_bytes:
        return [text]
    parts, rest = [], text
    while rest:
        data = rest.encode()
        if len(data) <= max_bytes:
            parts.append(rest)
            break
        cut = data[:max_bytes].decode("utf-8", errors="ignore")
        newline = cut.rfind("\n")
        if newline >= len(cut) // 2:
            cut = cut[: newline + 1]
        parts.append(cut)
        rest = rest[len(cut) :]
    return parts


def parts_of(channel: MessageChannel, message: dict) -> list[str]:
    """The text of each platform message ``message`` becomes on ``channel``."""
    limit = int(channel.limits.max_bytes.get(message.get("kind", "text"), 0) or 0)
    return split_utf8(message.get("text") or "", limit)


class _Missing(dict):
    def __missing__(self, key):
        raise ValueError(f"the template needs the variable {key!r}")


def render(template: str, variables: dict) -> str:
    """``template`` with ``{name}`` replaced from ``variables`` (no attribute or index access:
    the text comes from admins, the values from events)."""
    for _text, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        # no attribute/index access, positional fields, conversions or format specs (a spec
        # like {x:>999999999} would make a gigabyte)
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"bad template field {name!r}")
    return template.format_map(_Missing({k: "" if v is None else v for k, v in (variables or {}).items()}))


def collect(plugins=None) -> dict[str, MessageChannel]:
    """Every channel by name, from every ``crm_message_channels`` implementation; a malformed one
    or a second channel of a taken name is logged and left out."""
    plugins = plugins or current_app.extensions["crm"].plugins
    found: dict[str, MessageChannel] = {}
    for plugin, items in plugins.calls("crm_message_channels"):
        for item in items or []:
            if isinstance(item, dict):
                try:
                    item = MessageChannel(**{"plugin": plugin, **item})
                except TypeError as exc:
                    log.error("plugin %s offers a malformed message channel: %s", plugin, exc)
                    continue
            if not isinstance(item, MessageChannel) or not item.name or not callable(item.send):
                log.error("plugin %s offers a malformed message channel %r", plugin, item)
                continue
            if not item.plugin:
                item = dataclasses.replace(item, plugin=plugin)
            if item.name in found:
                log.error("message channel %s of plugin %s ignored: name taken", item.name, plugin)
                continue
            found[item.name] = item
    return found
