"""Storing messages: one batch of one source, idempotent on (source, message id), each message's
content sealed with ``crm_core.crypto.encrypt`` and bound to the customer's key when the
conversation maps to a customer.

How a conversation finds its customer (the first that matches, among the customers the writing
actor may read): the message's ``customer_id``; then, for the sender and each participant of kind
``customer``, their ``external_id`` already known for this source (``Identity``, learnt from earlier
mapped messages), their ``phone`` (normalised to E.164, as customers store it) or their ``email``.
Once a conversation has a customer it keeps it; later messages are bound to that customer.
"""

from __future__ import annotations

from urllib.parse import quote

import peewee as pw

from .. import permissions
from ..audit import record_event
from ..crypto import encrypt
from ..db import is_postgres, write_transaction
from ..entities.models import Customer
from ..entities.schemas import normalize_email, normalize_phone
from ..errors import APIError
from .models import Conversation, Identity, Message


def content_context(source: str, external_id: str) -> str:
    """The associated data naming a message's content: its source and id, each quoted so that no
    two (source, id) pairs share a context (a token moved to another message does not open)."""
    return f"conversations/{quote(source, safe='')}/{quote(external_id, safe='')}"


def subject_of(customer_id: int | None) -> str | None:
    """The key subject of a customer (``customers/12``): erasing them shreds it
    (``crm_core.crypto.keyring.shred``), and every message bound to it is unreadable for good."""
    return None if customer_id is None else f"customers/{customer_id}"


class _Mapper:
    """Finds the customer of a message within what ``actor`` may read of customers."""

    def __init__(self, actor, source: str):
        self.source = source
        self.view = permissions.view(actor, "customers")

    def _readable(self, query):
        return self.view.apply(query, Customer).first() if self.view.allowed else None

    def by_id(self, customer_id: int) -> Customer | None:
        return self._readable(Customer.select().where(Customer.id == customer_id))

    def by_party(self, party: dict) -> Customer | None:
        if party.get("kind") != "customer":
            return None
        if party.get("external_id"):
            known = Identity.select(Identity.customer).where(
                Identity.source == self.source, Identity.external_id == party["external_id"]
            )
            found = self._readable(Customer.select().where(Customer.id.in_(known)))
            if found is not None:
                return found
        for key, normalise, column in (
            ("phone", normalize_phone, Customer.phone),
            ("email", normalize_email, Customer.email),
        ):
            if not party.get(key):
                continue
            try:
                value = normalise(party[key])
            except ValueError:
                continue  # not a phone number: it maps nobody
            if value:
                found = self._readable(Customer.select().where(column == value))
                if found is not None:
                    return found
        return None

    def for_message(self, message: dict) -> Customer | None:
        for party in [message["sender"], *message.get("participants", [])]:
            found = self.by_party(party)
            if found is not None:
                return found
        return None


def _party(party: dict) -> dict:
    """A participant as the conversation lists it: who, never their phone or e-mail (mapping
    data, not something to keep beside the chat)."""
    return {k: party[k] for k in ("kind", "external_id", "id", "name") if party.get(k) not in (None, "")}


def _chat(source: str, external_id: str) -> Conversation | None:
    """The stored conversation, row-locked until the batch commits on PostgreSQL: two batches of
    one chat then update its participants and counts one after the other, never over each other
    (SQLite writers are serialised already)."""
    query = Conversation.select().where(
        Conversation.source == source, Conversation.external_id == external_id
    )
    return (query.for_update() if is_postgres() else query).first()


def _conversation(conv, source: str, channel: str, message: dict, customer: Customer | None) -> Conversation:
    """``conv`` (the stored conversation or None) created, or mapped to ``customer`` when it has
    none yet; a conversation keeps the customer it was first mapped to."""
    if conv is None:
        # ON CONFLICT DO NOTHING: a concurrent batch of the same chat (PostgreSQL; SQLite writers
        # are serialised) created it first, and this one then shares it
        Conversation.insert(
            channel=channel,
            source=source,
            external_id=message["conversation"],
            customer=customer,
            owner_id=customer.owner_id if customer else None,
            department_id=customer.department_id if customer else None,
            started_at=message["sent_at"],
            last_message_at=message["sent_at"],
        ).on_conflict_ignore().execute()
        conv = Conversation.get(
            Conversation.source == source, Conversation.external_id == message["conversation"]
        )
    if conv.customer_id is None and customer is not None:
        conv.customer = customer
        conv.owner_id, conv.department_id = customer.owner_id, customer.department_id
    return conv


def ingest(batch: dict, actor) -> dict:
    """Store a loaded batch (``schemas.BatchSchema``) as ``actor``: ``{"created", "skipped",
    "conversations"}``. All or nothing; 422 (``messages.<i>.customer_id``) when a given customer is
    not one the actor may read. Needs ``conversations:create``."""
    permissions.view(actor, "conversations", "create").require()
    source, channel = batch["source"], batch["channel"]
    mapper = _Mapper(actor, source)
    errors: dict = {}
    created = skipped = 0
    touched: dict[str, Conversation] = {}
    with write_transaction():
        ids = [m["external_id"] for m in batch["messages"]]
        stored = {
            row[0]
            for row in Message.select(Message.external_id)
            .where(Message.source == source, Message.external_id.in_(ids))
            .tuples()
        }
        for index, message in enumerate(batch["messages"]):
            customer = None
            customer_id = message.get("customer_id")
            if customer_id is not None:
                customer = mapper.by_id(customer_id)
                if customer is None:
                    errors[index] = {"customer_id": [f"No customers record {customer_id} that you can read."]}
                    continue
            if message["external_id"] in stored:
                skipped += 1
                continue
            stored.add(message["external_id"])
            key = message["conversation"]
            conv = touched.get(key) or _chat(source, key)
            if customer is None and (conv is None or conv.customer_id is None):
                customer = mapper.for_message(message)
            conv = touched[key] = _conversation(conv, source, channel, message, customer)
            if _store(conv, source, message, mapper):
                created += 1
            else:
                skipped += 1
        if errors:
            # nothing of a batch with a bad reference is kept: the caller fixes it and sends it again
            raise APIError(422, "Invalid input: messages.", errors={"messages": errors})
        for conv in touched.values():
            _refresh(conv)
        record_event(
            actor,
            "ingest",
            "conversations",
            extra={"source": source, "created": created, "skipped": skipped},
        )
    return {"created": created, "skipped": skipped, "conversations": sorted(c.id for c in touched.values())}


def _store(conv: Conversation, source: str, message: dict, mapper: _Mapper) -> bool:
    """Store one message in ``conv``; False when a concurrent batch stored it first."""
    sender = message["sender"]
    if sender["kind"] == "user":
        sender_id = sender.get("id")
    else:
        found = mapper.by_party(sender)
        # unknown by itself: the conversation's customer, the one customer of the chat
        sender_id = found.id if found is not None else conv.customer_id
    content = message.get("content")
    subject = subject_of(conv.customer_id) if content is not None else None
    token = None
    if content is not None:
        token = encrypt(content, content_context(source, message["external_id"]), subject=subject)
    inserted = (
        Message.insert(
            conversation=conv,
            source=source,
            external_id=message["external_id"],
            sender_kind=sender["kind"],
            sender_id=sender_id,
            sender_external_id=sender.get("external_id"),
            sent_at=message["sent_at"],
            type=message.get("type") or "text",
            content=token,
            subject=subject,
            attachments=message.get("attachments") or [],
        )
        .on_conflict_ignore()
        .execute()
    )
    if inserted is None:  # PostgreSQL answers no id for a row it did not insert
        return False
    parties = [_party(p) for p in [sender, *message.get("participants", [])]]
    for party in parties:
        if party not in conv.participants:
            conv.participants = [*conv.participants, party]
    if sender_id is not None and sender["kind"] == "customer" and sender.get("external_id"):
        Identity.insert(
            source=source, external_id=sender["external_id"], customer=sender_id
        ).on_conflict_ignore().execute()
    return True


def _refresh(conv: Conversation) -> None:
    """Counters and times from the stored messages (a batch may arrive out of order)."""
    count, first, last = (
        Message.select(pw.fn.COUNT(Message.id), pw.fn.MIN(Message.sent_at), pw.fn.MAX(Message.sent_at))
        .where(Message.conversation == conv)
        .tuples()
        .first()
    )
    conv.message_count, conv.started_at, conv.last_message_at = count, first, last
    conv.save()


def link_identity(source: str, external_id: str, customer_id: int, actor) -> dict:
    """Say that ``external_id`` of ``source`` (WeCom's ``external_userid``) is customer
    ``customer_id`` (one ``actor`` may read; else 422 naming ``customer_id``): later messages of
    that sender map to the customer, and so do the source's stored conversations with them that
    had no customer yet (their earlier messages stay bound to no one; erasing the customer blanks
    them). Needs ``conversations:create``. Returns ``{"customer_id", "conversations"}``."""
    permissions.view(actor, "conversations", "create").require()
    customer = _Mapper(actor, source).by_id(customer_id)
    if customer is None:
        raise APIError(
            422,
            "Invalid customer_id.",
            errors={"customer_id": [f"No customers record {customer_id} that you can read."]},
        )
    mapped = []
    with write_transaction():
        Identity.delete().where(Identity.source == source, Identity.external_id == external_id).execute()
        Identity.create(source=source, external_id=external_id, customer=customer)
        unmapped = Conversation.select().where(
            Conversation.source == source, Conversation.customer.is_null(True)
        )
        for conv in unmapped:
            if any(
                p.get("kind") == "customer" and p.get("external_id") == external_id for p in conv.participants
            ):
                conv.customer = customer
                conv.owner_id, conv.department_id = customer.owner_id, customer.department_id
                conv.save()
                mapped.append(conv.id)
    return {"customer_id": customer.id, "conversations": mapped}
