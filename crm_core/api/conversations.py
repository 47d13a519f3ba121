"""``/api/v1/conversations``: ingest archived messages, list conversations, read one (decrypted,
audited once per request). See docs/conversations.md."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from .. import permissions
from ..auth import current_actor
from ..conversations import CHANNELS, BatchSchema, Conversation, get_conversation, ingest, read_messages
from ..conversations.reading import conversation_dict, readable
from ..conversations.schemas import IdentitySchema
from ..conversations.store import link_identity
from . import API_PREFIX, Blueprint
from .common import PageArgs
from .paging import PAGINATION_HEADER_DOC, page_of, pagination_headers
from .responses import json_response

blp = Blueprint(
    "conversations",
    __name__,
    url_prefix=f"{API_PREFIX}/conversations",
    description="The conversation archive: chats with customers, stored encrypted, every read audited",
)


class IngestResultSchema(Schema):
    created = fields.Integer(metadata={"description": "messages stored"})
    skipped = fields.Integer(metadata={"description": "messages already stored (same source and id)"})
    conversations = fields.List(
        fields.Integer(), metadata={"description": "ids of the conversations touched"}
    )


class PartyOut(Schema):
    kind = fields.String()
    external_id = fields.String()
    id = fields.Integer()
    name = fields.String()


class ConversationOut(Schema):
    id = fields.Integer()
    channel = fields.String()
    source = fields.String()
    external_id = fields.String()
    customer_id = fields.Integer(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    participants = fields.List(fields.Nested(PartyOut))
    started_at = fields.String(metadata={"format": "date-time"})
    last_message_at = fields.String(metadata={"format": "date-time"})
    message_count = fields.Integer()


class SenderOut(Schema):
    kind = fields.String()
    id = fields.Integer(allow_none=True)
    external_id = fields.String(allow_none=True)


class MessageOut(Schema):
    id = fields.Integer()
    conversation_id = fields.Integer()
    external_id = fields.String()
    sender = fields.Nested(SenderOut)
    sent_at = fields.String(metadata={"format": "date-time"})
    type = fields.String()
    content = fields.String(allow_none=True, metadata={"description": "None when erased or unreadable"})
    attachments = fields.List(fields.Dict())
    erased = fields.Boolean(metadata={"description": "the customer was erased: the content is gone"})
    unreadable = fields.Boolean(metadata={"description": "the stored token does not open (tampered)"})


class ConversationArgs(PageArgs):
    customer_id = fields.Integer(metadata={"description": "only this customer's conversations"})
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    source = fields.String(validate=validate.Length(max=64))


@blp.route("/messages")
class Messages(MethodView):
    @blp.arguments(BatchSchema)
    @blp.response(200, IngestResultSchema)
    def post(self, batch):
        """Store a batch of messages of one source (needs conversations:create). Idempotent: a
        message whose (source, external_id) is stored already is skipped. Each message's
        conversation maps to a customer by ``customer_id``, else by the sender's or a
        participant's external id known for the source, phone or e-mail (customers the caller
        may read)."""
        return ingest(batch, current_actor())


class IdentityResultSchema(Schema):
    customer_id = fields.Integer()
    conversations = fields.List(fields.Integer(), metadata={"description": "conversations now mapped"})


@blp.route("/identities")
class Identities(MethodView):
    @blp.arguments(IdentitySchema)
    @blp.response(200, IdentityResultSchema)
    def post(self, data):
        """Map an external id of a source (WeCom's external_userid) to a customer (needs
        conversations:create and read on the customer): that sender's conversations, stored and
        to come, belong to the customer."""
        return link_identity(data["source"], data["external_id"], data["customer_id"], current_actor())


@blp.route("")
class Conversations(MethodView):
    @blp.arguments(ConversationArgs, location="query")
    @blp.response(200, ConversationOut(many=True), headers=PAGINATION_HEADER_DOC)
    def get(self, args):
        """Conversations the caller may read (the customer's owner and department decide), newest
        message first; no message content."""
        query = readable(current_actor())
        if "customer_id" in args:
            query = query.where(Conversation.customer == args["customer_id"])
        for key in ("channel", "source"):
            if key in args:
                query = query.where(getattr(Conversation, key) == args[key])
        rows, headers = page_of(
            query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc()), args
        )
        view = permissions.view(current_actor(), "conversations")
        return json_response(view.dump([conversation_dict(c) for c in rows]), 200, headers)


@blp.route("/<int:conversation_id>")
class ConversationDetail(MethodView):
    @blp.response(200, ConversationOut)
    def get(self, conversation_id):
        """One conversation's metadata (no content, so not audited)."""
        actor = current_actor()
        conv = get_conversation(actor, conversation_id)
        return json_response(permissions.view(actor, "conversations").dump(conversation_dict(conv)))


@blp.route("/<int:conversation_id>/messages")
class ConversationMessages(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, MessageOut(many=True), headers=PAGINATION_HEADER_DOC)
    def get(self, args, conversation_id):
        """A page of a conversation's messages, oldest first, decrypted. Every call is audited
        (one entry naming the conversation and how many messages were shown). A message of an
        erased customer has ``content: null`` and ``erased: true``."""
        actor = current_actor()
        conv = get_conversation(actor, conversation_id)
        items, total = read_messages(conv, actor, args["page"], args["page_size"])
        return json_response(items, 200, pagination_headers(total, args["page"], args["page_size"]))
