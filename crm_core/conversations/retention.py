"""How long archived messages are kept: ``CORE_CONVERSATIONS_RETENTION_DAYS`` (default 3 years),
enforced by the retention job through this capability's ``crm_retention_policies`` item."""

from __future__ import annotations

import datetime as dt

import peewee as pw

from ..db import write_transaction
from .models import Conversation, Message

RETENTION_SETTING = "CORE_CONVERSATIONS_RETENTION_DAYS"
DEFAULT_DAYS = 3 * 365
BATCH = 1000


def purge(cutoff: dt.datetime) -> int:
    """Delete messages sent before ``cutoff`` in batches, then the conversations left empty, and
    set the others' counts and times from what remains; returns how many messages went."""
    deleted = 0
    while True:
        with write_transaction():
            ids = [
                row[0]
                for row in Message.select(Message.id).where(Message.sent_at < cutoff).limit(BATCH).tuples()
            ]
            if not ids:
                break
            touched = {
                row[0]
                for row in Message.select(Message.conversation).where(Message.id.in_(ids)).distinct().tuples()
            }
            deleted += Message.delete().where(Message.id.in_(ids)).execute()
            for conv in Conversation.select().where(Conversation.id.in_(list(touched))):
                count, first = (
                    Message.select(pw.fn.COUNT(Message.id), pw.fn.MIN(Message.sent_at))
                    .where(Message.conversation == conv)
                    .tuples()
                    .first()
                )
                if not count:
                    conv.delete_instance()
                else:
                    conv.message_count, conv.started_at = count, first
                    conv.save()
    return deleted
