"""Words the workbench shows for the programme's codes (metrics, windows, entry kinds...), in the
user's language. Lazy strings: they are translated when a page renders them."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

METRICS = {"spend": _l("Spend amount"), "orders": _l("Paid orders"), "growth": _l("Growth value")}
WINDOWS = {
    "rolling": _l("Rolling window"),
    "calendar_year": _l("Calendar year"),
    "lifetime": _l("Lifetime"),
}
ROUNDING = {"down": _l("Round down"), "half_up": _l("Round half up"), "up": _l("Round up")}
RULE_KINDS = {
    "purchase": _l("Purchase"),
    "signup": _l("Sign-up bonus"),
    "birthday": _l("Birthday bonus"),
    "review": _l("Review bonus"),
    "live_interaction": _l("Live-stream interaction"),
    "referral": _l("Referral bonus"),
}
ENTRY_KINDS = {
    "earn": _l("Earned"),
    "redeem": _l("Redeemed"),
    "expire": _l("Expired"),
    "adjust": _l("Adjusted"),
    "reverse": _l("Reversed"),
    "clawback": _l("Clawed back"),
}
EXPIRY_MODES = {
    "never": _l("Never expire"),
    "days": _l("A number of days after earning"),
    "month_end": _l("At the end of the month they were earned in"),
    "year_end": _l("At the end of the year they were earned in"),
}
REFUND_POLICIES = {
    "debt": _l("Debt: the balance may go negative"),
    "clawback": _l("Claw back: later points are taken"),
}
DIRECTIONS = {"initial": _l("Initial"), "up": _l("Upgrade"), "down": _l("Downgrade"), "manual": _l("Manual")}
BUCKETS = {
    "balance": _l("Balance"),
    "active": _l("Active"),
    "pending": _l("Pending"),
    "overdue": _l("Overdue"),
    "spent": _l("Spent"),
    "expired": _l("Expired"),
    "debt": _l("Debt"),
}
#: the plugin's own permission actions, for the role grid (the core translates read/create/...)
ACTIONS = {"redeem": _l("redeem"), "adjust": _l("adjust")}


def choices(labels: dict) -> list[tuple[str, object]]:
    """``[(code, label)]`` for a select box."""
    return list(labels.items())


_FIXED_REASONS = {
    "enrolment": _l("Enrolment"),
    "expired": _l("Expired"),
    "manual change": _l("Manual change"),
    "points expiring soon": _l("Points expiring soon"),
    "evaluation: first tier": _l("Evaluation: first tier"),
    "evaluation: qualifies for a higher tier": _l("Evaluation: qualifies for a higher tier"),
    "evaluation: below the tier's threshold after retention and grace": _l(
        "Evaluation: below the tier's threshold after retention and grace"
    ),
}
_REFUND = re.compile(r"^refund (.+) of order (.+)$")
_ORDER = re.compile(r"^order (.+)$")
_BONUS = re.compile(r"^([a-z_]+) bonus$")


def reason(text: str | None) -> str:
    """A stored reason in the user's language: the programme's own reasons (``enrolment``,
    ``order <ref>``, ``<kind> bonus``...) are translated, what a person typed is shown as is."""
    from flask_babel import gettext as _

    if not text:
        return ""
    if text in _FIXED_REASONS:
        return str(_FIXED_REASONS[text])
    if match := _REFUND.match(text):
        return _("Refund %(refund)s of order %(order)s", refund=match.group(1), order=match.group(2))
    if match := _ORDER.match(text):
        return _("Order %(reference)s", reference=match.group(1))
    if (match := _BONUS.match(text)) and match.group(1) in RULE_KINDS:
        return str(RULE_KINDS[match.group(1)])
    return text
