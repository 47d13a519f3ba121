"""``/api/v1/messaging``: channels (configure robots and SMS accounts; secrets write-only), a test
message, sending, the delivery log with every attempt, and opt-outs. Admins by default
(``messaging:manage`` configures, ``messaging:send`` sends, ``messaging:read`` reads the log)."""

from __future__ import annotations

import hmac

from flask import request
from flask.views import MethodView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from .. import permissions
from ..auth import current_actor, public
from ..entities.schemas import UTCDateTime
from ..errors import APIError
from ..messaging import config as channel_config
from ..messaging import delivery_status, opt_out, record_reply, send_message
from ..messaging.channels import collect
from ..messaging.models import STATUSES, MessageChannelConfig, MessageDelivery
from ..messaging.service import PURPOSES, delivery_dict
from . import API_PREFIX, Blueprint

blp = Blueprint(
    "messaging",
    __name__,
    url_prefix=f"{API_PREFIX}/messaging",
    description="Message channels (WeCom, DingTalk, Feishu robots; SMS), sends, delivery log, opt-outs",
)


def _require(action: str):
    actor = current_actor()
    permissions.require(actor, "messaging", action)
    return actor


class MessagingChannelSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    kind = fields.String(required=True, validate=validate.OneOf(sorted(channel_config.KIND_SPECS)))
    label = fields.String(validate=validate.Length(max=200))
    settings = fields.Dict(
        metadata={"description": "keywords, templates, sign_name, sdk_app_id, region, caps"}
    )
    secrets = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        load_only=True,
        metadata={
            "description": "key / access_token / token / secret / access keys: write-only, stored sealed"
        },
    )
    secrets_set = fields.List(fields.String(), dump_only=True)
    active = fields.Boolean()
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class MessagingChannelUpdateSchema(Schema):
    label = fields.String(validate=validate.Length(max=200))
    settings = fields.Dict()
    secrets = fields.Dict(keys=fields.String(), values=fields.String(), load_only=True)
    active = fields.Boolean()


class MessagingOfferedSchema(Schema):
    name = fields.String()
    kinds = fields.List(fields.String())
    channel_kind = fields.String()
    plugin = fields.String()
    label = fields.String()


class MessagingMessageSchema(Schema):
    kind = fields.String(load_default="text", validate=validate.OneOf(["text", "markdown", "template"]))
    text = fields.String(validate=validate.Length(max=100_000))
    title = fields.String(validate=validate.Length(max=200))
    template = fields.String(validate=validate.Length(max=100))
    variables = fields.Dict()


class MessagingSendSchema(Schema):
    channel = fields.String(required=True, validate=validate.Length(max=64))
    to = fields.Dict(
        required=True, metadata={"description": "{customer_id} | {user_id} | {group} | {phone}, mobiles"}
    )
    message = fields.Nested(MessagingMessageSchema, required=True)
    purpose = fields.String(load_default="service", validate=validate.OneOf(PURPOSES))
    customer_id = fields.Integer(allow_none=True)
    key = fields.String(
        allow_none=True, validate=validate.Length(max=200), metadata={"description": "idempotency key"}
    )


class MessagingTestSchema(Schema):
    text = fields.String(validate=validate.Length(min=1, max=2000))
    to = fields.Dict()


class MessagingAttemptSchema(Schema):
    number = fields.Integer()
    started_at = UTCDateTime()
    duration_ms = fields.Integer()
    outcome = fields.String(
        metadata={"description": "sending, sent, failed, unknown (no answer: looked up before any resend)"}
    )
    code = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    retryable = fields.Boolean()


class MessagingDeliverySchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    key = fields.String(allow_none=True)
    purpose = fields.String()
    customer_id = fields.Integer(allow_none=True)
    status = fields.String(metadata={"description": ", ".join(STATUSES)})
    attempts = fields.Integer()
    next_attempt_at = UTCDateTime()
    last_code = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    provider_ref = fields.String(allow_none=True)
    sent_at = UTCDateTime(allow_none=True)
    created_at = UTCDateTime()
    message_kind = fields.String(allow_none=True)
    attempt_log = fields.Nested(MessagingAttemptSchema, many=True)


class MessagingDeliveryQuerySchema(Schema):
    channel = fields.String(validate=validate.Length(max=64))
    status = fields.String(validate=validate.OneOf(STATUSES))
    customer_id = fields.Integer()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class MessagingOptOutSchema(Schema):
    channel_kind = fields.String(load_default="sms", validate=validate.OneOf(["sms", "robot", "*"]))
    customer_id = fields.Integer(allow_none=True)
    phone = fields.String(allow_none=True, validate=validate.Length(max=32))


def _channel(channel_id: int) -> MessageChannelConfig:
    row = MessageChannelConfig.get_or_none(MessageChannelConfig.id == channel_id)
    if row is None:
        raise APIError(404, _("No channel %(id)s.", id=channel_id))
    return row


#: the channel checks' messages in the user's language
CONFIG_MESSAGES = {
    "Unknown channel kind.": _l("Unknown channel kind."),
    "Unknown setting for this kind.": _l("Unknown setting for this kind."),
    "Unknown secret for this kind.": _l("Unknown secret for this kind."),
    "Must be a non-empty string.": _l("Must be a non-empty string."),
    "Missing data for required field.": _l("Missing data for required field."),
    "A list of strings.": _l("A list of strings."),
    "An object: template name -> template.": _l("An object: template name -> template."),
    "A list of [count, seconds] pairs of positive integers.": _l(
        "A list of [count, seconds] pairs of positive integers."
    ),
    "Lower-case letters, digits, - _ . (at most 64).": _l("Lower-case letters, digits, - _ . (at most 64)."),
    "A channel of this name exists.": _l("A channel of this name exists."),
}


def _config_error(exc: channel_config.ChannelConfigError) -> APIError:
    errors = {k: [str(CONFIG_MESSAGES.get(m, m)) for m in v] for k, v in exc.errors.items()}
    return APIError(422, _("The channel settings are not valid."), errors=errors)


@blp.route("/channels")
class Channels(MethodView):
    @blp.response(200, MessagingChannelSchema(many=True))
    def get(self):
        """Configured channels, secrets left out (``messaging:read``)."""
        _require("read")
        return [
            channel_config.channel_dict(r)
            for r in MessageChannelConfig.select().order_by(MessageChannelConfig.name)
        ]

    @blp.arguments(MessagingChannelSchema)
    @blp.response(201, MessagingChannelSchema)
    def post(self, data):
        """Configure a channel: ``kind`` is ``wecom_robot``, ``dingtalk_robot``, ``feishu_bot``,
        ``sms_aliyun`` or ``sms_tencent``; ``secrets`` are sealed and never returned (``messaging:manage``)."""
        actor = _require("manage")
        try:
            row = channel_config.create_channel(actor, data)
        except channel_config.ChannelConfigError as exc:
            raise _config_error(exc) from None
        return channel_config.channel_dict(row)


@blp.route("/channels/offered")
class Offered(MethodView):
    @blp.response(200, MessagingOfferedSchema(many=True))
    def get(self):
        """Every channel messages can be sent to: configured ones and those plugins offer."""
        _require("read")
        return [
            {
                "name": c.name,
                "kinds": list(c.kinds),
                "channel_kind": c.channel_kind,
                "plugin": c.plugin,
                "label": c.label or c.name,
            }
            for c in collect().values()
        ]


@blp.route("/channels/<int:channel_id>")
class Channel(MethodView):
    @blp.response(200, MessagingChannelSchema)
    def get(self, channel_id):
        """One channel, secrets left out."""
        _require("read")
        return channel_config.channel_dict(_channel(channel_id))

    @blp.arguments(MessagingChannelUpdateSchema)
    @blp.response(200, MessagingChannelSchema)
    def patch(self, data, channel_id):
        """Change a channel; the ``secrets`` given replace those stored (``messaging:manage``)."""
        actor = _require("manage")
        try:
            row = channel_config.update_channel(actor, _channel(channel_id), data)
        except channel_config.ChannelConfigError as exc:
            raise _config_error(exc) from None
        return channel_config.channel_dict(row)

    @blp.response(204)
    def delete(self, channel_id):
        """Remove a channel (its delivery log stays)."""
        channel_config.delete_channel(_require("manage"), _channel(channel_id))


@blp.route("/channels/<int:channel_id>/test")
class TestMessage(MethodView):
    @blp.arguments(MessagingTestSchema)
    @blp.response(202, MessagingDeliverySchema)
    def post(self, data, channel_id):
        """Queue a test message on a channel (a robot's group; an SMS channel needs ``to.phone``
        and a template named ``test``): its delivery shows whether the configuration works."""
        actor = _require("manage")
        row = _channel(channel_id)
        if row.kind.startswith("sms_"):
            message = {"kind": "template", "template": "test", "variables": {}}
        else:
            message = {"kind": "text", "text": data.get("text") or _("crm-core test message")}
        to = data.get("to") or {"group": row.name}
        delivery_id = send_message(row.name, to, message, purpose="service", actor=actor)
        return delivery_status(delivery_id)


@blp.route("/messages")
class Messages(MethodView):
    @blp.arguments(MessagingSendSchema)
    @blp.response(202, MessagingDeliverySchema)
    def post(self, data):
        """Queue a message (``messaging:send``); the answer is its delivery (``refused`` with the
        reason in ``last_code`` when consent or a plugin stops it). The same ``key`` returns the
        same delivery."""
        actor = _require("send")
        delivery_id = send_message(
            data["channel"],
            data["to"],
            data["message"],
            purpose=data["purpose"],
            customer_id=data.get("customer_id"),
            key=data.get("key"),
            actor=actor,
        )
        return delivery_status(delivery_id)


@blp.route("/deliveries")
class Deliveries(MethodView):
    @blp.arguments(MessagingDeliveryQuerySchema, location="query")
    @blp.response(200, MessagingDeliverySchema(many=True))
    def get(self, args):
        """Recent deliveries, newest first (``messaging:read``)."""
        _require("read")
        query = MessageDelivery.select().order_by(MessageDelivery.id.desc()).limit(args["limit"])
        for name in ("channel", "status", "customer_id"):
            if name in args:
                query = query.where(getattr(MessageDelivery, name) == args[name])
        return [delivery_dict(d) for d in query]


@blp.route("/deliveries/<int:delivery_id>")
class Delivery(MethodView):
    @blp.response(200, MessagingDeliverySchema)
    def get(self, delivery_id):
        """One delivery with every attempt."""
        _require("read")
        delivery = MessageDelivery.get_or_none(MessageDelivery.id == delivery_id)
        if delivery is None:
            raise APIError(404, _("No delivery %(id)s.", id=delivery_id))
        return delivery_dict(delivery, attempts=True)


@blp.route("/opt-outs")
class OptOuts(MethodView):
    @blp.arguments(MessagingOptOutSchema)
    @blp.response(201, MessagingOptOutSchema)
    def post(self, data):
        """Record that a customer or a number wants no marketing on a kind of channel."""
        actor = _require("send")
        try:
            opt_out(
                data["channel_kind"],
                customer_id=data.get("customer_id"),
                phone=data.get("phone"),
                actor=actor,
            )
        except ValueError as exc:
            raise APIError(422, _("The opt-out is not valid."), errors={"phone": [str(exc)]}) from None
        return data


class ReplyAnswerSchema(Schema):
    code = fields.Integer(metadata={"description": "Aliyun: 0 when taken"})
    msg = fields.String()
    result = fields.Integer(metadata={"description": "Tencent: 0 when taken"})
    errmsg = fields.String()


def _replies(kind: str, body) -> list[tuple[str, str, str | None]]:
    """``(phone, text, region)`` of each reply in a provider's callback body."""
    if kind == "sms_aliyun":  # SmsUp push: a JSON list of {phone_number, content, ...}
        items = body if isinstance(body, list) else [body]
        return [
            (str(i.get("phone_number") or ""), str(i.get("content") or ""), "CN")
            for i in items
            if isinstance(i, dict)
        ]
    if isinstance(body, dict):  # Tencent reply callback: {mobile, nationcode, text, ...}
        return [
            (
                f"+{body.get('nationcode') or '86'}{body.get('mobile') or ''}",
                str(body.get("text") or ""),
                None,
            )
        ]
    return []


@blp.route("/sms/<string:name>/replies")
@public
class SmsReplies(MethodView):
    @blp.response(200, ReplyAnswerSchema)
    @blp.alt_response(404, description="No SMS channel of that name with a callback token, or a wrong token")
    def post(self, name):
        """The provider's callback of replies to the SMS channel ``name`` (Aliyun SmsUp push,
        Tencent reply callback), authenticated by the channel's ``callback_token`` secret in
        ``?token=``: a STOP/退订 reply opts the number out of marketing SMS."""
        row, token = channel_config.callback_token(name)
        given = request.args.get("token") or ""
        if row is None or not token or not hmac.compare_digest(given.encode(), token.encode()):
            raise APIError(404, _("No such callback."))
        for phone, text, region in _replies(row.kind, request.get_json(silent=True)):
            try:
                record_reply(phone, text, region)
            except ValueError:
                continue  # a number the provider sent garbled: nothing to opt out
        if row.kind == "sms_aliyun":
            return {"code": 0, "msg": "成功"}
        return {"result": 0, "errmsg": "OK"}
