"""Languages of the workbench (Flask-Babel): Simplified Chinese and English.

The language is, in order: the user's saved choice (``User.language``), the choice made before
logging in (session), then the browser's ``Accept-Language`` (any ``zh*`` gets Chinese), then
English. Catalogues live in ``crm_core/translations/<locale>/LC_MESSAGES/messages.po`` (compiled
``.mo`` files are committed so no build step is needed).
"""

from __future__ import annotations

from pathlib import Path

from flask import g, has_request_context, request, session
from flask_babel import Babel

LANGUAGES = {"zh_CN": "简体中文", "en": "English"}
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


def init_babel(app) -> Babel:
    """Install Flask-Babel on ``app`` with the workbench's catalogues."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    return Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))
