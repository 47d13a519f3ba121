"""The screens' forms: campaign, tracking link and daily spend, checked field by field with
messages in the reader's language, then written through the core's write path
(``crm_core.plugin_api.create_record`` and friends) with the same checks the REST API applies.

A refused form keeps what was typed (the page is shown again with the values and one message per
field), so bad input never loses data.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _

from crm_core.plugin_api import APIError, create_record, database, update_record

from ..classify import GROUPS
from ..links import unsafe_reason
from ..models import Campaign, Channel, TrackingLink

MAX_MONEY = Decimal("999999999999.99")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
TEXT_FIELDS = ("utm_source", "utm_medium", "utm_term", "utm_content", "kol")


class FormErrors(Exception):
    """The form was refused: ``errors`` maps input names to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(", ".join(errors))
        self.errors = errors


def _text(form, name: str, errors: dict, limit: int = 200, required: bool = False) -> str:
    value = (form.get(name) or "").strip()
    if required and not value:
        errors[name] = _("This field is required.")
    elif len(value) > limit:
        errors[name] = _("At most %(num)s characters.", num=limit)
    elif "\x00" in value:
        errors[name] = _("Must not contain NUL characters.")
    return value


def money(text: str, name: str, errors: dict, required: bool = False) -> Decimal | None:
    """A non-negative amount with at most two decimals (``1,234.50`` accepted), or None."""
    text = (text or "").strip().replace(",", "").replace("，", "")
    if not text:
        if required:
            errors[name] = _("This field is required.")
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        errors[name] = _("Not a valid amount: use digits like 1200.50.")
        return None
    if not value.is_finite() or value < 0 or value > MAX_MONEY:
        errors[name] = _("Must be between 0 and 999,999,999,999.99.")
        return None
    if value != value.quantize(Decimal("0.01")):
        errors[name] = _("At most two decimal places.")
        return None
    return value.quantize(Decimal("0.01"))


def day(text: str, name: str, errors: dict, required: bool = False) -> dt.date | None:
    """An ISO date (``2026-12-01``), or None."""
    text = (text or "").strip()
    if not text:
        if required:
            errors[name] = _("This field is required.")
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = _("Not a valid date: use YYYY-MM-DD.")
        return None


def campaign_values(form, record: Campaign | None, may_create_channel: bool) -> dict:
    """The campaign form's values as the write path takes them; ``FormErrors`` when refused."""

    errors: dict[str, str] = {}
    data: dict = {
        "name": _text(form, "name", errors, required=True),
        "utm_campaign": _text(form, "utm_campaign", errors, required=True),
    }
    for name in TEXT_FIELDS:
        data[name] = _text(form, name, errors)
    data["kol"] = data["kol"] or None
    data["budget"] = money(form.get("budget"), "budget", errors)
    currency = (form.get("currency") or "").strip().upper()
    if currency and not CURRENCY_RE.match(currency):
        errors["currency"] = _("Use a three-letter ISO 4217 code such as CNY.")
    elif currency:
        data["currency"] = currency
    data["starts_on"] = day(form.get("starts_on"), "starts_on", errors)
    data["ends_on"] = day(form.get("ends_on"), "ends_on", errors)
    if data["starts_on"] and data["ends_on"] and data["ends_on"] < data["starts_on"]:
        errors["ends_on"] = _("The end date must not be before the start date.")
    channel = (form.get("channel_id") or "").strip()
    new_name = (form.get("new_channel_name") or "").strip()
    if new_name:
        if not may_create_channel:
            errors["new_channel_name"] = _("You may not create channels.")
        elif len(new_name) > 120:
            errors["new_channel_name"] = _("At most %(num)s characters.", num=120)
        elif Channel.select().where(Channel.name == new_name).exists():
            errors["new_channel_name"] = _("A channel with this name exists.")
        group = (form.get("new_channel_group") or "").strip()
        if group not in GROUPS:
            errors["new_channel_group"] = _("Choose a channel type.")
        data["channel_id"] = None
    elif channel:
        if not channel.isdigit() or not Channel.select().where(Channel.id == int(channel)).exists():
            errors["channel_id"] = _("Choose one of the channels.")
        else:
            data["channel_id"] = int(channel)
    else:
        data["channel_id"] = None
    if data["utm_campaign"] and "utm_campaign" not in errors:
        clash = Campaign.select().where(Campaign.utm_campaign == data["utm_campaign"])
        if record is not None:
            clash = clash.where(Campaign.id != record.id)
        if clash.exists():
            errors["utm_campaign"] = _("Another campaign already uses this utm_campaign.")
    if errors:
        raise FormErrors(errors)
    return data


def save_campaign(form, record: Campaign | None, actor, may_create_channel: bool) -> Campaign:
    """Create (``record`` None) or update a campaign from the form, creating the new channel it
    names in the same transaction; ``FormErrors`` when refused."""
    from ..api import _campaign_checks, _channel_checks

    data = campaign_values(form, record, may_create_channel)
    try:
        with database.atomic():
            if form.get("new_channel_name", "").strip():
                channel = create_record(
                    "channel_tracking.channels",
                    Channel,
                    {
                        "name": form["new_channel_name"].strip(),
                        "group": form["new_channel_group"].strip(),
                        "description": "",
                    },
                    actor,
                    before_save=_channel_checks,
                )
                data["channel_id"] = channel.id
            if record is None:
                return create_record(
                    "channel_tracking.campaigns", Campaign, data, actor, before_save=_campaign_checks
                )
            return update_record(
                "channel_tracking.campaigns", record, data, actor, before_save=_campaign_checks
            )
    except APIError as exc:
        if exc.code == 403:
            raise FormErrors({"_form": _("You do not have permission to do this.")}) from None
        if exc.code in (409, 422):
            raise FormErrors(
                {"_form": _("The campaign could not be saved: it conflicts with another record.")}
            ) from None
        raise


def save_link(form, campaign: Campaign, actor) -> TrackingLink:
    """Create a tracking link of ``campaign`` from the form; ``FormErrors`` when refused."""
    from ..api import _link_checks

    errors: dict[str, str] = {}
    target = (form.get("target_url") or "").strip()
    kol = _text(form, "kol", errors) or None
    if not target:
        errors["target_url"] = _("This field is required.")
    else:
        reason = unsafe_reason(target)
        if reason:
            errors["target_url"] = reason
    if errors:
        raise FormErrors(errors)
    data = {"campaign_id": campaign.id, "kol": kol, "target_url": target}
    try:
        with database.atomic():
            return create_record(
                "channel_tracking.links", TrackingLink, data, actor, before_save=_link_checks
            )
    except APIError as exc:
        if exc.code == 403:
            raise FormErrors({"_form": _("You do not have permission to do this.")}) from None
        if exc.code in (409, 422):
            raise FormErrors(
                {"_form": _("The link could not be saved: it conflicts with another record.")}
            ) from None
        raise


def spend_values(form) -> dict[dt.date, Decimal]:
    """``{day: amount}`` from the spend form (one day, or a range of days each with the amount);
    ``FormErrors`` when refused."""
    errors: dict[str, str] = {}
    first = day(form.get("day"), "day", errors, required=True)
    last = day(form.get("until"), "until", errors)
    amount = money(form.get("amount"), "amount", errors, required=True)
    if first and last and last < first:
        errors["until"] = _("The end date must not be before the start date.")
    if first and last and (last - first).days > 366:
        errors["until"] = _("At most one year at once.")
    if errors:
        raise FormErrors(errors)
    days = {}
    current = first
    while current <= (last or first):
        days[current] = amount
        current += dt.timedelta(days=1)
    return days
