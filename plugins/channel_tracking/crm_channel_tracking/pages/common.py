"""What every screen of the plugin needs: the signed-in actor, permission checks in the
reader's language, date ranges, report settings and the section's tabs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_core import plugin_api
from crm_core.plugin_api import APIError, web_actor

from ..attribution import DEFAULT_MODEL, MODELS
from ..settings import setting

DEFAULT_DAYS = 30
MAX_DAYS = 3700

#: the section's tabs: (endpoint, label, permission "resource:action")
TABS = (
    ("channel_tracking_web.campaigns", _l("Campaigns"), "channel_tracking.campaigns:read"),
    ("channel_tracking_web.roi", _l("Channel & KOL ROI"), "channel_tracking.reports:read"),
    ("channel_tracking_web.attribution", _l("Attribution"), "channel_tracking.reports:read"),
    ("channel_tracking_web.funnels", _l("Funnels"), "channel_tracking.reports:read"),
    ("channel_tracking_web.touchpoints", _l("Touchpoints"), "channel_tracking.touchpoints:read"),
)


def actor():
    """The signed-in actor (the views are ``login_required``)."""
    return web_actor()


def can(resource: str, action: str = "read", record=None) -> bool:
    """``crm_core.plugin_api.can`` for the signed-in actor on ``channel_tracking.<resource>``."""
    return plugin_api.can(actor(), f"channel_tracking.{resource}", action, record)


def need(resource: str, action: str = "read") -> None:
    """403 in the reader's language unless the actor may ``channel_tracking.<resource>:<action>``."""
    if not can(resource, action):
        raise APIError(403, _("You do not have permission to do this."))


def tabs() -> list[dict]:
    """The section's tabs the actor may open."""
    out = []
    for endpoint, label, perm in TABS:
        resource, _sep, action = perm.rpartition(":")
        if plugin_api.can(actor(), resource, action):
            out.append({"endpoint": endpoint, "url": url_for(endpoint), "label": str(label)})
    return out


@dataclass
class Range:
    """A date range as the pages show it: ``start`` to ``end``, both days included."""

    start: dt.date
    end: dt.date
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def stop(self) -> dt.date:
        """The day after ``end`` (the reports take an exclusive end)."""
        return self.end + dt.timedelta(days=1)

    def args(self) -> dict:
        """The range as query arguments."""
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def _date(text: str | None) -> dt.date | None:
    text = (text or "").strip()
    if not text:
        return None
    return dt.date.fromisoformat(text)


def date_range(args, default_start: dt.date | None = None, default_end: dt.date | None = None) -> Range:
    """The ``from``/``to`` query arguments (days, both included) or the last 30 days; a bad
    value is reported (in the reader's language) and replaced by the default."""
    today = dt.datetime.now(dt.UTC).date()
    end = default_end or today
    start = default_start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    errors = {}
    try:
        given_start = _date(args.get("from"))
    except ValueError:
        given_start = None
        errors["from"] = _("Not a valid date: use YYYY-MM-DD.")
    try:
        given_end = _date(args.get("to"))
    except ValueError:
        given_end = None
        errors["to"] = _("Not a valid date: use YYYY-MM-DD.")
    start, end = given_start or start, given_end or end
    if end >= dt.date.max - dt.timedelta(days=1):  # the reports need the day after the range
        errors["to"] = _("Not a valid date: use YYYY-MM-DD.")
        end = today
    if end < start:
        errors["to"] = _("The end date must not be before the start date.")
        start, end = end, start
    if (end - start).days > MAX_DAYS:
        errors["from"] = _("At most about ten years at once.")
        start = end - dt.timedelta(days=MAX_DAYS)
    return Range(start, end, errors)


def report_settings(args) -> tuple[dict, dict]:
    """``(settings, errors)``: the attribution model (``model`` argument, else the default) and
    the configured window, half-life, session timeout and currency."""
    errors = {}
    model = args.get("model") or DEFAULT_MODEL
    if model not in MODELS:
        errors["model"] = _("Unknown attribution model.")
        model = DEFAULT_MODEL
    return {
        "model": model,
        "currency": setting("CURRENCY"),
        "lookback_days": int(setting("LOOKBACK_DAYS")),
        "half_life_days": int(setting("HALF_LIFE_DAYS")),
        "timeout_minutes": int(setting("SESSION_TIMEOUT_MINUTES")),
    }, errors
