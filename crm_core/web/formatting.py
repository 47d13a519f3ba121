"""Dates, times, numbers and amounts as the reader expects them: their locale's format, their zone.

Jinja filters for every page (core and plugins), installed by :func:`crm_core.web.i18n.init_babel`:

- ``{{ value|crm_datetime }}``: a stored time (naive values are UTC, as the database keeps them;
  ISO strings of dumped records are read too) in the user's time zone, without microseconds:
  ``2026年12月2日 08:38`` / ``Dec 2, 2026, 8:38 AM``.
- ``{{ value|crm_datetime_input }}``: the same as a ``datetime-local`` input's value; the forms
  read it back with :func:`utc_from_input`.
- ``{{ value|crm_date }}``: a date (``2026年12月2日`` / ``Dec 2, 2026``).
- ``{{ value|crm_number }}``: a number with the locale's grouping (``1,234.5``).
- ``{{ value|crm_money(currency) }}``: an amount with its currency (``¥1,234.50``, ``CN¥1,234.50``);
  without a currency, a number with two decimals.
- ``{{ text|crm_message }}``: an English message from code (an error, a job's description) in the
  page's language (:func:`crm_core.web.messages.translate_message`).

A value that is not what the filter expects is shown as it is rather than failing the page.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from babel.dates import get_timezone_location
from flask_babel import format_currency as babel_format_currency
from flask_babel import format_date, format_decimal, get_locale, get_timezone, to_user_timezone, to_utc
from flask_babel import format_time as babel_format_time
from flask_babel import gettext as _

from .messages import translate_message

_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
#: a ``datetime-local`` input's value: no offset, so in the zone the form was shown in
_LOCAL_INPUT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


def _parse_datetime(value) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def local_datetime(value) -> dt.datetime | None:
    """``value`` (a datetime or ISO text; naive means UTC) in the user's zone, or None."""
    moment = _parse_datetime(value)
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return to_user_timezone(moment.replace(tzinfo=dt.UTC))


def crm_datetime(value, seconds: bool = False) -> str:
    """A stored time for people: the locale's medium date and short time, in the user's zone."""
    if value is None or value == "":
        return ""
    moment = local_datetime(value)
    if moment is None:
        return str(value)
    locale = get_locale()
    day = format_date(moment, "medium")
    time = babel_format_time(moment, "medium" if seconds else "short")
    pattern = locale.datetime_formats.get("medium") if locale is not None else None
    if pattern is None:
        return f"{day} {time}"
    return str(pattern).replace("{1}", day).replace("{0}", time)


def crm_datetime_input(value) -> str:
    """A stored time as a ``datetime-local`` input's value in the user's zone (``2026-12-02T08:38``);
    :func:`utc_from_input` turns what comes back into UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and _LOCAL_INPUT.fullmatch(value):
        return value[:16]  # no offset: what the user typed (a form shown again), already local
    moment = local_datetime(value)
    return moment.strftime("%Y-%m-%dT%H:%M") if moment else str(value)


def utc_from_input(text: str) -> str:
    """A ``datetime-local`` value (no offset: the user's zone, as the form showed it) as UTC ISO
    text; anything else (an explicit offset, a typo) is left for the schema to judge."""
    if not _LOCAL_INPUT.fullmatch(text):
        return text
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    return to_utc(moment).replace(tzinfo=dt.UTC).isoformat()


def crm_date(value) -> str:
    """A date (or the day of a stored time, in the user's zone) in the locale's medium format."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime) or (isinstance(value, str) and _ISO_DATETIME.match(value)):
        moment = local_datetime(value)
        return format_date(moment, "medium") if moment else str(value)
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.date):
        return format_date(value, "medium")
    return str(value)


def _decimal(value) -> Decimal | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def crm_number(value) -> str:
    """A number with the locale's digit grouping and decimal sign."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    return format_decimal(number, format="#,##0.##########")


def crm_money(value, currency: str | None = None) -> str:
    """An amount with its currency symbol, the locale's grouping and two decimals."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    if currency:
        return babel_format_currency(number, str(currency))
    return format_decimal(number, format="#,##0.00")


def timezone_label(name: str) -> str:
    """A zone's name for people in the page's language (``中国（上海）时间``)."""
    if name in ("UTC", "Etc/UTC"):
        return _("Coordinated Universal Time (UTC)")
    try:
        return f"{get_timezone_location(name, locale=get_locale())} · {name}"
    except (LookupError, ValueError):
        return name


def current_timezone() -> str:
    """The name of the zone this request's times are shown in."""
    zone = get_timezone()
    return str(getattr(zone, "key", None) or getattr(zone, "zone", None) or zone)


FILTERS = {
    "crm_datetime": crm_datetime,
    "crm_datetime_input": crm_datetime_input,
    "crm_date": crm_date,
    "crm_number": crm_number,
    "crm_money": crm_money,
    "crm_message": translate_message,
}


def register_filters(app) -> None:
    """Install the filters (and ``current_timezone``) on ``app``'s Jinja environment."""
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals["current_timezone"] = current_timezone
