"""Languages of the workbench (Flask-Babel): Simplified Chinese and English.

The language is, in order: the user's saved choice (``User.language``), the choice made before
logging in (session), then the browser's ``Accept-Language`` (any ``zh*`` gets Chinese), then
English. The time zone is the user's saved one (``User.timezone``), else the instance's
``TIMEZONE`` setting (default ``UTC``); :mod:`crm_core.web.formatting` shows every date, time
and amount in that zone and the locale's format. The core's catalogue lives in ``crm_core/translations/<locale>/LC_MESSAGES/messages.po``,
each plugin's in the folders its ``crm_translations`` hook names (compiled ``.mo`` files are
committed so no build step is needed; :mod:`crm_core.web.catalogs` keeps them in step).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app, g, has_request_context, request, session
from flask_babel import Babel

from ..config import ConfigError
from ..records.labels import LANGUAGES  # noqa: F401  (the workbench's languages)
from .formatting import register_filters

DEFAULT_LANGUAGE = "en"
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def normalise(code: str | None) -> str | None:
    """Map a language tag (``zh-CN``, ``zh_Hans``, ``en-US``...) to a supported locale, or None."""
    if not code:
        return None
    tag = code.replace("-", "_").lower()
    if tag.startswith("zh"):
        return "zh_CN"
    if tag.startswith("en"):
        return "en"
    return None


def select_locale() -> str:
    """Flask-Babel's locale selector (see the module docstring for the order)."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    user = g.get("web_user")
    chosen = normalise(getattr(user, "language", None)) or normalise(session.get("lang"))
    if chosen:
        return chosen
    for tag, _quality in request.accept_languages:
        found = normalise(tag)
        if found:
            return found
    return DEFAULT_LANGUAGE


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}  # reads the tz database: once


def valid_timezone(name: str | None) -> bool:
    """True when ``name`` is an IANA time zone (``Asia/Shanghai``, ``UTC``)."""
    if not name or name not in _zone_names():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def select_timezone() -> str:
    """Flask-Babel's time zone selector: the user's saved zone, else the instance's ``TIMEZONE``."""
    user = g.get("web_user") if has_request_context() else None
    chosen = getattr(user, "timezone", None)
    if valid_timezone(chosen):
        return chosen
    return current_app.config.get("TIMEZONE") or "UTC"


def translation_directories(app) -> list[str]:
    """Every ``crm_translations`` folder, core first, then plugins in plugin order (a later
    catalogue wins for a message both translate)."""
    plugins = app.extensions["crm"].plugins
    folders: list[str] = []
    for _plugin, result in plugins.in_dependency_order(plugins.calls("crm_translations")):
        for folder in result or []:
            if str(folder) not in folders:
                folders.append(str(folder))
    return folders


def init_babel(app) -> Babel:
    """Install Flask-Babel on ``app`` with the catalogues of the core and of every plugin, the
    time zone selector and the formatting filters (:mod:`crm_core.web.formatting`)."""
    zone = app.config.get("TIMEZONE") or "UTC"
    if not valid_timezone(zone):
        raise ConfigError(f"TIMEZONE: unknown time zone {zone!r} (use an IANA name like Asia/Shanghai)")
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", zone)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", ";".join(translation_directories(app)))

    @app.before_request
    def _fresh_locale():
        # g outlives a request when an app context is already pushed (tests, embedding): the
        # locale and zone Flask-Babel cached there belong to the previous request (API ones too)
        g.pop("_flask_babel", None)

    register_filters(app)
    return Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
