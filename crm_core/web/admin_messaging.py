"""Administration of messaging: the configured channels (never their secrets, only which are
set) and channels plugins offer, and the recent deliveries with their attempts, filterable by
channel and status. Configuration itself is in the API (``/api/v1/messaging``)."""

from __future__ import annotations

from flask import g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..messaging.channels import collect
from ..messaging.config import channel_dict
from ..messaging.models import STATUSES, MessageAttempt, MessageChannelConfig, MessageDelivery
from .admin import need
from .blueprint import bp
from .session import login_required

KIND_LABELS = {
    "wecom_robot": _l("WeCom group robot"),
    "dingtalk_robot": _l("DingTalk robot"),
    "feishu_bot": _l("Feishu / Lark bot"),
    "sms_aliyun": _l("Aliyun SMS"),
    "sms_tencent": _l("Tencent Cloud SMS"),
}
STATUS_LABELS = {
    "queued": _l("Queued"),
    "sending": _l("Sending"),
    "retrying": _l("Retrying"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "refused": _l("Refused"),
}
PURPOSE_LABELS = {
    "service": _l("Service"),
    "marketing": _l("Marketing"),
    "reminder": _l("Reminder"),
    "alert": _l("Alert"),
    "verification": _l("Verification code"),
}
#: why the core did not send (``last_code`` of a refused or failed delivery)
REASON_LABELS = {
    "no_consent": _l("No marketing consent"),
    "opted_out": _l("Opted out"),
    "no_channel": _l("The channel no longer exists"),
    "frequency_cap": _l("Over the number's daily cap"),
}
RECENT = 100


def reason(code: str | None) -> str:
    """A delivery's ``last_code`` as the reader says it (provider codes stay as they are)."""
    if not code:
        return ""
    if code.startswith("vetoed:"):
        return _("Refused by plugin %(plugin)s", plugin=code.partition(":")[2])
    return str(REASON_LABELS.get(code, code))


@bp.route("/admin/messaging")
@login_required
def admin_messaging():
    """Channels and the most recent deliveries (``messaging:read``)."""
    need("messaging:read")
    configured = [
        channel_dict(row) for row in MessageChannelConfig.select().order_by(MessageChannelConfig.name)
    ]
    names = {c["name"] for c in configured}
    offered = [c for c in collect().values() if c.name not in names]
    query = MessageDelivery.select().order_by(MessageDelivery.id.desc()).limit(RECENT)
    channel = request.args.get("channel") or ""
    status = request.args.get("status") or ""
    if channel:
        query = query.where(MessageDelivery.channel == channel)
    if status in STATUSES:
        query = query.where(MessageDelivery.status == status)
    deliveries = list(query)
    attempts: dict[int, list] = {}
    if deliveries:
        for attempt in (
            MessageAttempt.select()
            .where(MessageAttempt.delivery.in_([d.id for d in deliveries]))
            .order_by(MessageAttempt.id)
        ):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return render_template(
        "crm/admin/messaging.html",
        configured=configured,
        offered=offered,
        deliveries=deliveries,
        attempts=attempts,
        channel=channel,
        status=status,
        statuses=STATUSES,
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        purpose_labels=PURPOSE_LABELS,
        reason=reason,
        actor=g.actor,
    )
