"""What the workbench shows for the plugin's codes: channel groups, attribution models and common
event types by their names in the reader's language (``kol`` -> "达人/KOL"), never the bare code
unless nothing better is known (a custom event type)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

CHANNEL_LABELS = {
    "direct": _l("Direct"),
    "organic_search": _l("Organic search"),
    "paid_search": _l("Paid search"),
    "social": _l("Social media"),
    "paid_social": _l("Paid social"),
    "kol": _l("KOL / influencer"),
    "live_stream": _l("Live stream"),
    "offline_event": _l("Offline event"),
    "email": _l("E-mail marketing"),
    "sms": _l("SMS"),
    "display": _l("Display ads"),
    "affiliate": _l("Affiliate"),
    "referral": _l("Referral"),
    "other": _l("Other"),
    "(unattributed)": _l("Unattributed"),
    "unknown": _l("Unknown"),
}

MODEL_LABELS = {
    "first_touch": _l("First touch"),
    "last_touch": _l("Last touch"),
    "last_non_direct": _l("Last non-direct touch"),
    "linear": _l("Linear"),
    "time_decay": _l("Time decay"),
    "position_based": _l("Position based (40/20/40)"),
}

MODEL_HELP = {
    "first_touch": _l("All credit to the first touch."),
    "last_touch": _l("All credit to the last touch."),
    "last_non_direct": _l("All credit to the latest touch that was not direct."),
    "linear": _l("Equal credit to every touch."),
    "time_decay": _l("More credit to touches close to the conversion (half-life)."),
    "position_based": _l("40% to the first and last touch each, 20% shared by the middle."),
}

EVENT_LABELS = {
    "page_view": _l("Page view"),
    "link_click": _l("Link click"),
    "qr_scan": _l("QR code scan"),
    "live_view": _l("Live stream view"),
    "follow": _l("Follow"),
    "signup": _l("Sign-up"),
    "login": _l("Log-in"),
    "identify": _l("Identified"),
    "add_to_cart": _l("Add to cart"),
    "checkout": _l("Checkout"),
    "order": _l("Order"),
    "purchase": _l("Purchase"),
    "lead": _l("Lead form"),
    "coupon_claim": _l("Coupon claimed"),
    "event_checkin": _l("Event check-in"),
}


def channel_label(code) -> str:
    """The name of channel group ``code`` in the current language (the code itself if unknown)."""
    label = CHANNEL_LABELS.get(code) if isinstance(code, str) else None
    return str(label) if label is not None else ("" if code is None else str(code))


def model_label(code) -> str:
    """The name of attribution model ``code``."""
    label = MODEL_LABELS.get(code)
    return str(label) if label is not None else str(code)


def event_label(code) -> str:
    """The name of event type ``code`` (custom event types keep their code)."""
    label = EVENT_LABELS.get(code) if isinstance(code, str) else None
    return str(label) if label is not None else ("" if code is None else str(code))
