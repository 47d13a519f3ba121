"""The conversation archive: chats of WeCom, DingTalk, phone and web chat, kept encrypted.

- A ``Conversation`` (channel, source, the source's id of the chat, the customer when one maps,
  participants, first and last message time) has ``Message`` s (sender, time, type, content,
  attachment metadata). Content is an envelope token (``crm_core.crypto.encrypt``) bound to the
  message (its source and id) and, when the conversation maps to a customer, to that customer's
  key: erasing the customer shreds the key and the content with it.
- In: ``store.ingest(batch, actor)`` (``POST /api/v1/conversations/messages``) and the pull job
  ``core.conversations:pull`` over every ``crm_conversation_sources`` source, each from its stored
  cursor (``pull``); the WeCom archive adapter is ``wecom``.
- Out: ``reading`` — conversations within ``permissions.view(actor, "conversations")`` (row scope
  of the customer's owner and department), messages decrypted for the reader, one audit entry per
  request that reads content, and the customer timeline's conversation entries.

See docs/conversations.md.
"""

from .models import CHANNELS, Conversation, Message
from .reading import customer_timeline, get_conversation, read_messages, timeline_items
from .schemas import BatchSchema
from .store import ingest

__all__ = [
    "CHANNELS",
    "BatchSchema",
    "Conversation",
    "Message",
    "customer_timeline",
    "get_conversation",
    "ingest",
    "read_messages",
    "timeline_items",
]
