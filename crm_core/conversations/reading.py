"""Reading the archive: conversations within the reader's ``permissions.view`` of
``conversations`` (the customer's owner and department, copied onto each conversation), messages
decrypted for that reader, and one audit entry for each request that reads message content.

A message whose key is gone (the customer was erased: their key shredded) reads as
``content: None, erased: True``; one whose token does not open (changed in the database) as
``content: None, unreadable: True``. Neither is an error: the rest of the conversation still reads.
"""

from __future__ import annotations

from .. import permissions
from ..audit import record_event
from ..crypto import DecryptionError, KeyRingError, decrypt
from ..entities.timeline import timeline as entity_timeline
from ..errors import APIError
from .models import Conversation, Message
from .store import content_context

RESOURCE = "conversations"


def _utc(value):
    """A stored (naive UTC) time as the API writes times: ISO 8601 with ``Z``."""
    return None if value is None else value.isoformat() + "Z"


def readable(actor, query=None):
    """``query`` (default: every conversation) within ``actor``'s read view; 403 without a grant."""
    return permissions.view(actor, RESOURCE).apply(
        query if query is not None else Conversation.select(), Conversation
    )


def get_conversation(actor, conversation_id) -> Conversation:
    """The conversation ``conversation_id`` if ``actor`` may read it: 404 when it is outside the
    reader's scope (its existence is not revealed), 403 without any grant."""
    try:
        wanted = int(conversation_id)
    except (TypeError, ValueError):
        wanted = None
    conv = None
    if wanted is not None and -(2**63) <= wanted < 2**63:
        conv = readable(actor, Conversation.select().where(Conversation.id == wanted)).first()
    else:
        permissions.view(actor, RESOURCE).require()
    if conv is None:
        raise APIError(404, f"No conversations record {conversation_id}.")
    return conv


def conversation_dict(conv: Conversation) -> dict:
    """What a listing shows of a conversation: who, where and when, never message content."""
    return {
        "id": conv.id,
        "channel": conv.channel,
        "source": conv.source,
        "external_id": conv.external_id,
        "customer_id": conv.customer_id,
        "owner_id": conv.owner_id,
        "department_id": conv.department_id,
        "participants": conv.participants or [],
        "started_at": _utc(conv.started_at),
        "last_message_at": _utc(conv.last_message_at),
        "message_count": conv.message_count,
    }


def open_content(message: Message) -> tuple[str | None, dict]:
    """``(plaintext, flags)`` of a message: flags ``{"erased": True}`` when its key was shredded,
    ``{"unreadable": True}`` when the token was changed or moved."""
    if message.content is None:
        # NULL content: none was given, or the erasure blanked it (then its subject stays set)
        return None, {"erased": message.subject is not None}
    try:
        return decrypt(
            message.content, content_context(message.source, message.external_id), subject=message.subject
        ), {}
    except KeyRingError:
        return None, {"erased": True}
    except DecryptionError:
        return None, {"unreadable": True}


def message_dict(message: Message) -> dict:
    """A message as its reader sees it, content decrypted (see :func:`open_content`)."""
    content, flags = open_content(message)
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "external_id": message.external_id,
        "sender": {
            "kind": message.sender_kind,
            "id": message.sender_id,
            "external_id": message.sender_external_id,
        },
        "sent_at": _utc(message.sent_at),
        "type": message.type,
        "content": content,
        "attachments": message.attachments or [],
        "erased": bool(flags.get("erased")),
        **({"unreadable": True} if flags.get("unreadable") else {}),
    }


def read_messages(
    conv: Conversation, actor, page: int, page_size: int, via: str = "api"
) -> tuple[list[dict], int]:
    """One page of ``conv``'s messages, oldest first, decrypted for ``actor`` (who may read
    ``conv``: see :func:`get_conversation`), and ``(items, total)``. Audited once: one entry for
    the request, naming the conversation, the page and how many messages were shown."""
    query = Message.select().where(Message.conversation == conv).order_by(Message.sent_at, Message.id)
    total = query.count()
    # a field rule may hide parts of a message (its content, its sender) from a role
    items = permissions.view(actor, RESOURCE).dump([message_dict(m) for m in query.paginate(page, page_size)])
    record_event(
        actor,
        "read",
        RESOURCE,
        conv.id,
        {
            "via": via,
            "page": page,
            "messages": len(items),
            "erased": sum(1 for item in items if item.get("erased")),
            "customer_id": conv.customer_id,
        },
        record=conv,
    )
    return items, total


def timeline_items(customer, actor, limit: int, before=None) -> list[dict]:
    """The customer's conversations as timeline entries (newest message first), for an ``actor``
    who may read them (``permissions.view`` of ``conversations``; none otherwise). An entry shows
    the channel, the time of the last message and how many there are, never content: reading it
    is ``GET /api/v1/conversations/<id>/messages``, which audits."""
    view = permissions.view(actor, RESOURCE)
    if not view.allowed:
        return []
    query = view.apply(Conversation.select().where(Conversation.customer == customer.id), Conversation)
    if before is not None:
        query = query.where(Conversation.last_message_at < before)
    return [
        {
            "type": f"conversation.{conv.channel}",
            "at": conv.last_message_at,
            "object": RESOURCE,
            "object_id": conv.id,
            "title": conv.source,
            "data": {
                "channel": conv.channel,
                "source": conv.source,
                "messages": conv.message_count,
                "started_at": _utc(conv.started_at),
                "last_message_at": _utc(conv.last_message_at),
                "messages_url": f"/api/v1/conversations/{conv.id}/messages",
            },
        }
        for conv in query.order_by(Conversation.last_message_at.desc()).limit(limit)
    ]


def customer_timeline(customer, actor, limit: int, before=None) -> list[dict]:
    """The customer timeline with conversations: ``crm_core.entities.timeline.timeline`` (each
    source within the reader's view of its resource) plus :func:`timeline_items`, newest first.
    The one place the API's timeline and the customer 360 page assemble it."""
    items = entity_timeline(customer, actor, limit, before) + timeline_items(customer, actor, limit, before)
    items.sort(key=lambda item: (item["at"], item["object_id"]), reverse=True)
    return items[:limit]


def export_for(customer, actor) -> list[dict] | None:
    """The customer's conversations with their messages decrypted, for a privacy export made by
    ``actor`` (only those the actor may read; each one exported is audited as a read, ``via``
    ``privacy-export``). None when there is no actor or it may not read conversations."""
    if actor is None or not permissions.view(actor, RESOURCE).allowed:
        return None
    out = []
    for conv in readable(actor, Conversation.select().where(Conversation.customer == customer.id)):
        messages = Message.select().where(Message.conversation == conv).order_by(Message.sent_at, Message.id)
        items = permissions.view(actor, RESOURCE).dump([message_dict(m) for m in messages])
        record_event(
            actor,
            "read",
            RESOURCE,
            conv.id,
            {"via": "privacy-export", "messages": len(items), "customer_id": customer.id},
            record=conv,
        )
        out.append({**permissions.view(actor, RESOURCE).dump(conversation_dict(conv)), "messages": items})
    return out
