"""Messaging: messages to customers, users and groups through channels (WeCom, DingTalk and
Feishu robots, Aliyun and Tencent SMS, and any a plugin offers with ``crm_message_channels``).

Public (re-exported by ``crm_core.plugin_api``):

- ``send_message(channel, to, message, *, purpose="service", customer_id=None, key=None,
  actor=None) -> int``: queue one message, returning its delivery id (``service.py``);
- ``send_message_if_configured(channel, to, message, ...) -> int | None``: the same for work that
  goes on without it (no channel configured or a refused queueing: logged, None);
- ``delivery_status(delivery_id) -> dict``;
- ``opt_out(channel_kind, customer_id=None, phone=None, ...)`` and ``record_reply(phone, text)``
  (an SMS STOP/退订 reply);
- ``MessageChannel``, ``ChannelLimits``, ``SendResult`` (what a plugin's channel is made of);
- ``deliver_due(now=None)``: send what is due (the job ``core.messaging:send``).

``docs/messaging.md`` has the configuration of each channel, the platforms' limits and how a
plugin adds a channel.
"""

from .channels import ChannelLimits, MessageChannel, SendResult, split_utf8
from .sender import deliver_due
from .service import delivery_status, opt_out, record_reply, send_message, send_message_if_configured

__all__ = [
    "ChannelLimits",
    "MessageChannel",
    "SendResult",
    "deliver_due",
    "delivery_status",
    "opt_out",
    "record_reply",
    "send_message",
    "send_message_if_configured",
    "split_utf8",
]
