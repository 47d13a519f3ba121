"""Names of order statuses in the user's language (pages and the customer panel)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATUSES = {
    "pending": _l("Pending payment"),
    "paid": _l("Paid"),
    "shipped": _l("Shipped"),
    "delivered": _l("Delivered"),
    "partially_refunded": _l("Partially refunded"),
    "refunded": _l("Refunded"),
    "cancelled": _l("Cancelled"),
}


def status(code: str) -> str:
    """The status ``code`` in the user's language (the code itself when unknown)."""
    return str(STATUSES.get(code, code))
