"""Names of order statuses, coupon kinds and recall exits in the user's language (the screens)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

STATUSES = {
    "pending": _l("Pending payment"),
    "paid": _l("Paid"),
    "shipped": _l("Shipped"),
    "delivered": lazy_pgettext("order status", "Delivered"),
    "partially_refunded": _l("Partially refunded"),
    "refunded": _l("Refunded"),
    "cancelled": _l("Cancelled"),
}


KINDS = {
    "amount_off": _l("Amount off"),
    "percent_off": _l("Percent off"),
    "threshold": _l("Spend and save"),
    "free_shipping": _l("Free shipping"),
}

EXITS = {
    "ordered": _l("Ordered"),
    "no_consent": _l("No marketing consent"),
    "recalled_recently": _l("Recalled recently"),
    "coupon_unavailable": _l("Coupon unavailable"),
}


def kind(code: str) -> str:
    """A coupon kind in the user's language."""
    return str(KINDS.get(code, code))


def exit_reason(code: str) -> str:
    """Why a recall run ended without a message, in the user's language."""
    return str(EXITS.get(code, code))


def status(code: str) -> str:
    """The status ``code`` in the user's language (the code itself when unknown)."""
    return str(STATUSES.get(code, code))
