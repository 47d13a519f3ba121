"""The conversation archive: conversations, messages, pull cursors and known external ids; the
built-in roles' grants on ``conversations``.

Grants (only roles still marked built-in, only grants they lack; ``seed_builtin_grants``):

- ``manager``: read the conversations of their department tree's customers;
- ``service``: read those of their department's customers (they answer the chats);
- ``sales``: read those of the customers they own;
- ``readonly``: nothing. Conversations are sensitive (every read is audited), and "reads every
  business record" does not extend to private chats.

``create`` (ingestion) stays with ``admin``: give it to the role of the integration's client.
"""

import datetime

import peewee as pw

from crm_core.permissions.builtin import seed_builtin_grants

GRANTS = {
    "manager": [("conversations", "read", "department_tree")],
    "service": [("conversations", "read", "department")],
    "sales": [("conversations", "read", "own")],
}


def up(migrator, db):
    now = datetime.datetime.utcnow

    class Customer(pw.Model):
        class Meta:
            database = db
            table_name = "customer"

    class Conversation(pw.Model):
        created_at = pw.DateTimeField(default=now, index=True)
        updated_at = pw.DateTimeField(default=now)
        owner_id = pw.IntegerField(null=True, index=True)
        department_id = pw.IntegerField(null=True, index=True)
        custom = pw.JSONField(default=dict)
        channel = pw.CharField(max_length=20)
        source = pw.CharField(max_length=64)
        external_id = pw.CharField(max_length=200)
        customer = pw.ForeignKeyField(Customer, null=True, on_delete="RESTRICT")
        participants = pw.JSONField(default=list)
        started_at = pw.DateTimeField(index=True)
        last_message_at = pw.DateTimeField(index=True)
        message_count = pw.IntegerField(default=0)

        class Meta:
            database = db
            table_name = "conversation"
            indexes = ((("source", "external_id"), True), (("customer", "last_message_at"), False))

    class Message(pw.Model):
        created_at = pw.DateTimeField(default=now, index=True)
        updated_at = pw.DateTimeField(default=now)
        conversation = pw.ForeignKeyField(Conversation, on_delete="CASCADE")
        source = pw.CharField(max_length=64)
        external_id = pw.CharField(max_length=200)
        sender_kind = pw.CharField(max_length=20)
        sender_id = pw.IntegerField(null=True)
        sender_external_id = pw.CharField(max_length=200, null=True)
        sent_at = pw.DateTimeField(index=True)
        type = pw.CharField(max_length=32, default="text")
        content = pw.TextField(null=True)
        subject = pw.CharField(max_length=120, null=True)
        attachments = pw.JSONField(default=list)

        class Meta:
            database = db
            table_name = "conversation_message"
            indexes = ((("source", "external_id"), True), (("conversation", "sent_at", "id"), False))

    class SourceCursor(pw.Model):
        created_at = pw.DateTimeField(default=now, index=True)
        updated_at = pw.DateTimeField(default=now)
        source = pw.CharField(max_length=64, unique=True)
        cursor = pw.TextField(null=True)
        pulled_at = pw.DateTimeField(null=True)
        messages = pw.BigIntegerField(default=0)
        last_error = pw.TextField(null=True)

        class Meta:
            database = db
            table_name = "conversation_cursor"

    class Identity(pw.Model):
        created_at = pw.DateTimeField(default=now, index=True)
        updated_at = pw.DateTimeField(default=now)
        source = pw.CharField(max_length=64)
        external_id = pw.CharField(max_length=200)
        customer = pw.ForeignKeyField(Customer, on_delete="CASCADE")

        class Meta:
            database = db
            table_name = "conversation_identity"
            indexes = ((("source", "external_id"), True),)

    db.create_tables([Conversation, Message, SourceCursor, Identity])
    seed_builtin_grants(db, GRANTS)
