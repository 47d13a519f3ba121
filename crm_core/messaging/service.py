"""Queueing a message: ``send_message`` checks the channel, the message and the recipient,
decides consent, and stores one delivery (the queue row, committed with the caller's
transaction: an automation's send is queued exactly when its rule's run commits).

Consent (the one place it is decided for messages): purpose ``marketing`` needs the customer's
``marketing`` consent (``crm_core.privacy.consent.has_consent``: none recorded is no; a bare
number with no customer has none, only a robot's group needs no customer), no opt-out
of that kind of channel (an SMS ``退订``/STOP reply, or the API), and no ``crm_message_allowed``
returning False; a refused message is still a delivery (status ``refused``, ``last_code`` says
why), so the caller and the log see it. Other purposes are vetoed only by
``crm_message_allowed``.
"""

from __future__ import annotations

import logging

import peewee as pw
from flask import current_app
from flask_babel import gettext as _

from ..audit import record_event
from ..auth import current_actor
from ..db import database, write_transaction
from ..entities.models import Customer
from ..entities.schemas import normalize_phone
from ..errors import APIError
from ..privacy.consent import has_consent
from .channels import KINDS, MAX_PARTS, MessageChannel, collect, parts_of
from .models import REFUSED, MessageAttempt, MessageDelivery, MessageOptOut
from .sms import is_stop_reply

log = logging.getLogger(__name__)

PURPOSES = ("service", "marketing", "reminder", "alert", "verification")
RECIPIENT_KEYS = ("customer_id", "user_id", "group", "phone")


def _invalid(errors: dict) -> APIError:
    return APIError(422, _("The message cannot be sent."), errors=errors)


def _recipient(channel: MessageChannel, to: dict) -> tuple[dict, int | None, str | None]:
    """The resolved recipient, its customer id and (SMS) its E.164 address."""
    if (
        not isinstance(to, dict)
        or not set(to) & set(RECIPIENT_KEYS)
        or set(to) - {*RECIPIENT_KEYS, "mobiles"}
    ):
        raise _invalid({"to": [_("An object with one of %(keys)s.", keys=", ".join(RECIPIENT_KEYS))]})
    recipient = {k: v for k, v in to.items() if v is not None}
    customer_id = recipient.get("customer_id")
    address = None
    if customer_id is not None:
        customer = Customer.get_or_none(Customer.id == customer_id)
        if customer is None:
            raise _invalid({"to": [_("No customer %(id)s.", id=customer_id)]})
        if channel.channel_kind == "sms" and not recipient.get("phone"):
            if not customer.phone:
                raise _invalid({"to": [_("Customer %(id)s has no phone number.", id=customer_id)]})
            recipient["phone"] = customer.phone
    if channel.channel_kind == "sms":
        if not recipient.get("phone"):
            raise _invalid({"to": [_("An SMS needs a phone number or a customer with one.")]})
        try:
            recipient["phone"] = address = normalize_phone(str(recipient["phone"]))
        except ValueError:
            raise _invalid({"to": [_("Not a valid phone number.")]}) from None
    return recipient, customer_id, address


def opted_out(channel_kind: str, customer_id: int | None, address: str | None) -> bool:
    """True when the customer or the number opted out of ``channel_kind`` (or of everything)."""
    who = []
    if customer_id is not None:
        who.append(MessageOptOut.customer_id == customer_id)
    if address:
        who.append(MessageOptOut.address == address)
    if not who:
        return False
    where = MessageOptOut.channel_kind.in_([channel_kind, "*"]) & pw.reduce(lambda a, b: a | b, who)
    return MessageOptOut.select().where(where).exists()


def refusal(
    channel: MessageChannel, purpose: str, customer_id: int | None, address: str | None
) -> str | None:
    """Why this send may not go (``no_consent``, ``opted_out``, ``vetoed:<plugin>``), or None."""
    if purpose == "marketing":
        # a number or an address with no customer behind it has given no consent we could see
        # (a robot posts to a group of staff: nobody to ask)
        if customer_id is None and channel.channel_kind != "robot":
            return "no_consent"
        if customer_id is not None and not has_consent(customer_id, "marketing"):
            return "no_consent"
        if opted_out(channel.channel_kind, customer_id, address):
            return "opted_out"
    plugins = current_app.extensions["crm"].plugins
    for plugin, answer in plugins.calls(
        "crm_message_allowed", customer_id=customer_id, purpose=purpose, channel=channel.name
    ):
        if answer is False:
            return f"vetoed:{plugin}"[:64]
    return None


def _prepare(channel: MessageChannel, message: dict) -> dict:
    if not isinstance(message, dict):
        raise _invalid({"message": [_("An object with kind and text (or template and variables).")]})
    kind = message.get("kind") or "text"
    if kind not in KINDS or kind not in channel.kinds:
        raise _invalid(
            {
                "message.kind": [
                    _("Channel %(name)s sends %(kinds)s.", name=channel.name, kinds=", ".join(channel.kinds))
                ]
            }
        )
    message = {**message, "kind": kind}
    if channel.prepare is not None:
        try:
            message = channel.prepare(message)
        except (ValueError, KeyError) as exc:
            raise _invalid({"message": [str(exc)]}) from None
    parts = parts_of(channel, message)
    smallest = min((count for count, _ in channel.limits.windows), default=MAX_PARTS)
    if len(parts) > min(MAX_PARTS, smallest):
        raise _invalid(
            {
                "message.text": [
                    _(
                        "Too long: it would be %(count)s messages on %(name)s.",
                        count=len(parts),
                        name=channel.name,
                    )
                ]
            }
        )
    return message


def send_message(
    channel: str,
    to: dict,
    message: dict,
    *,
    purpose: str = "service",
    customer_id: int | None = None,
    key: str | None = None,
    actor=None,
) -> int:
    """Queue ``message`` to ``to`` through ``channel`` and return the delivery id (see the
    module's docstring for consent). A ``key`` already used returns that delivery (nothing is
    queued twice). Raises ``APIError`` 422 (with per-field ``errors``) for an unknown channel, a
    kind the channel does not send, a bad recipient or a message too long to split."""
    if key is not None:
        existing = (
            MessageDelivery.select(MessageDelivery.id).where(MessageDelivery.key == str(key)[:200]).scalar()
        )
        if existing is not None:
            return existing
    if purpose not in PURPOSES:
        raise _invalid({"purpose": [_("One of %(values)s.", values=", ".join(PURPOSES))]})
    channels = collect()
    found = channels.get(channel)
    if found is None:
        raise _invalid({"channel": [_("No channel %(name)s.", name=channel)]})
    prepared = _prepare(found, message)
    recipient, to_customer, address = _recipient(found, to)
    customer_id = customer_id if customer_id is not None else to_customer
    why = refusal(found, purpose, customer_id, address)
    actor = actor if actor is not None else current_actor(required=False)
    row = {
        "channel": found.name,
        "key": str(key)[:200] if key is not None else None,
        "purpose": purpose,
        "customer_id": customer_id,
        "address": address,
        "recipient": recipient,
        "message": prepared,
        "created_by": getattr(actor, "id", None),
    }
    if why:
        row.update(status=REFUSED, last_code=why)
    try:
        with write_transaction():
            delivery = MessageDelivery.create(**row)
            summary = {"channel": found.name, "purpose": purpose, "customer_id": customer_id, "refused": why}
            record_event(
                actor, "message_refused" if why else "message_queued", "messaging", delivery.id, summary
            )
    except pw.IntegrityError:
        # the same key queued by a concurrent caller: theirs is the delivery
        if key is None:
            raise
        return (
            MessageDelivery.select(MessageDelivery.id).where(MessageDelivery.key == str(key)[:200]).scalar()
        )
    return delivery.id


def delivery_dict(delivery: MessageDelivery, attempts: bool = False) -> dict:
    """The JSON image of a delivery (and, with ``attempts``, each attempt)."""
    data = {
        "id": delivery.id,
        "channel": delivery.channel,
        "key": delivery.key,
        "purpose": delivery.purpose,
        "customer_id": delivery.customer_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "last_code": delivery.last_code,
        "last_error": delivery.last_error,
        "provider_ref": delivery.provider_ref,
        "sent_at": delivery.sent_at,
        "created_at": delivery.created_at,
        "message_kind": (delivery.message or {}).get("kind"),
    }
    if attempts:
        data["attempt_log"] = [
            {
                "number": a.number,
                "started_at": a.started_at,
                "duration_ms": a.duration_ms,
                "outcome": a.outcome,
                "code": a.code,
                "error": a.error,
                "retryable": a.retryable,
            }
            for a in MessageAttempt.select()
            .where(MessageAttempt.delivery == delivery.id)
            .order_by(MessageAttempt.id)
        ]
    return data


def send_message_if_configured(
    channel: str | None, to: dict, message: dict, *, purpose: str = "service", **options
) -> int | None:
    """:func:`send_message` for work that must go on whether or not a message goes out (a job's
    reminder, a recall run): with no ``channel`` configured, or when the core refuses to queue it
    (``APIError``: no such channel, no phone...), the text is logged and None returned. The send
    runs in a savepoint, so a refusal leaves the caller's transaction usable. Same options as
    :func:`send_message`; returns the delivery id when queued."""
    text = message.get("text") or message.get("template")
    if not channel:
        log.info("%s message to %s not sent (no message channel): %s", purpose, to, text)
        return None
    try:
        with database.atomic():
            return send_message(channel, to, message, purpose=purpose, **options)
    except APIError as exc:
        log.warning(
            "%s message to %s not queued on %s (%s): %s",
            purpose,
            to,
            channel,
            getattr(exc, "errors", None) or exc,
            text,
        )
        return None


def delivery_status(delivery_id: int) -> dict:
    """Where a delivery is: its status (``queued``, ``sending``, ``retrying``, ``sent``,
    ``failed``, ``refused``), attempts, last provider code and error; ``KeyError`` if unknown."""
    delivery = MessageDelivery.get_or_none(MessageDelivery.id == delivery_id)
    if delivery is None:
        raise KeyError(delivery_id)
    return delivery_dict(delivery)


def opt_out(channel_kind: str, *, customer_id=None, phone=None, source="api", actor=None) -> bool:
    """Record that a customer or a number wants no marketing on ``channel_kind`` (``sms``,
    ``robot``, ``*``); False when it was already recorded. Audited."""
    address = normalize_phone(str(phone)) if phone else None
    if customer_id is None and address is None:
        raise ValueError("an opt-out names a customer or a phone number")
    with write_transaction():
        query = MessageOptOut.select().where(
            MessageOptOut.channel_kind == channel_kind,
            MessageOptOut.customer_id.is_null()
            if customer_id is None
            else MessageOptOut.customer_id == customer_id,
            MessageOptOut.address.is_null() if address is None else MessageOptOut.address == address,
        )
        if query.exists():
            return False
        MessageOptOut.create(
            channel_kind=channel_kind, customer_id=customer_id, address=address, source=source
        )
        record_event(
            actor,
            "message_opt_out",
            "messaging",
            customer_id,
            {"channel_kind": channel_kind, "source": source, "phone": bool(address)},
        )
    return True


def record_reply(phone: str, text: str, region: str | None = None) -> bool:
    """An SMS reply: a STOP/退订 reply opts the number (and its customer) out of marketing SMS;
    True when it was one. ``region`` reads a number without its country code (``CN``)."""
    if not is_stop_reply(text):
        return False
    address = normalize_phone(str(phone), region)
    customer_id = Customer.select(Customer.id).where(Customer.phone == address).scalar()
    opt_out("sms", customer_id=customer_id, phone=address, source="reply")
    return True
