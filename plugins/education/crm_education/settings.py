"""The settings the plugin reads (``crm settings`` lists them; ``CRM_EDUCATION_*`` sets them)."""

from __future__ import annotations

import zoneinfo

from flask import current_app

from crm_core.plugin_api import Setting

SETTINGS = {
    "EDUCATION_TIMEZONE": Setting(
        str, "Asia/Shanghai", "the school's time zone: weekly patterns and holidays are in it"
    ),
    "EDUCATION_ALLOW_NEGATIVE_HOURS": Setting(
        bool, False, "roll call may take a package's hours below zero (owed hours)"
    ),
    "EDUCATION_LOW_HOURS": Setting(int, 4, "hours.low when a package's balance falls to this or below"),
    "EDUCATION_EXPIRY_DAYS": Setting(int, 14, "hours.low this many days before a package expires"),
    "EDUCATION_POOL_DAYS": Setting(
        int, 7, "a lead without a follow-up for this many days returns to the shared pool (0: never)"
    ),
    "EDUCATION_MAX_PREPAID_HOURS": Setting(
        int, 60, "a package may sell at most this many hours at once (校外培训 prepaid-fee cap; 0: no cap)"
    ),
    "EDUCATION_WAITLIST_OFFER_HOURS": Setting(
        int, 48, "hours a freed seat is held for the first in the waiting list before it passes on"
    ),
    "EDUCATION_MESSAGE_CHANNEL": Setting(
        str, "", "the message channel trial and lesson-hour reminders go to guardians on (empty: events only)"
    ),
    "EDUCATION_CONSULTANT_ROLE": Setting(
        str,
        "consultant",
        "the role whose holders (holding no other role) see of the customers only their own leads and"
        " the unowned ones of the shared pool, whatever wider scope lets them claim",
    ),
    "EDUCATION_TEACHER_ROLE": Setting(
        str, "teacher", "the role whose holders (holding no other role) see only their classes' students"
    ),
}


def get(name: str):
    """The value of ``EDUCATION_<name>``."""
    return current_app.config[f"EDUCATION_{name}"]


def timezone() -> zoneinfo.ZoneInfo:
    """The school's time zone."""
    return zoneinfo.ZoneInfo(get("TIMEZONE"))
