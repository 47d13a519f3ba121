"""The workbench page of one archived conversation: its messages, decrypted for the reader and
audited like the API's read (one entry per page shown). The customer timeline links here."""

from __future__ import annotations

from flask import g, render_template, request

from .. import permissions
from ..conversations import get_conversation, read_messages
from ..entities.models import Customer
from .blueprint import bp
from .session import login_required

PAGE_SIZE = 100


@bp.route("/conversations/<int:conversation_id>")
@login_required
def conversation_detail(conversation_id: int):
    """A conversation's messages, oldest first (404 outside the reader's scope, 403 without a
    grant on conversations)."""
    actor = g.actor
    conv = get_conversation(actor, conversation_id)
    try:
        page = max(1, min(int(request.args.get("page", 1)), 100000))
    except ValueError:
        page = 1
    messages, total = read_messages(conv, actor, page, PAGE_SIZE, via="web")
    customer = None
    if conv.customer_id is not None and permissions.view(actor, "customers").allowed:
        customer = (
            permissions.view(actor, "customers")
            .apply(Customer.select().where(Customer.id == conv.customer_id), Customer)
            .first()
        )
    return render_template(
        "crm/conversation.html",
        conv=conv,
        customer=customer,
        messages=messages,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )
