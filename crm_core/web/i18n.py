"""Languages of the workbench (Flask-Babel): Simplified Chinese and English.

The language is, in order: the user's saved choice (``User.language``), the choice made before
logging in (session), then the browser's ``Accept-Language`` (any ``zh*`` gets Chinese), then
English. The core's catalogue lives in ``crm_core/translations/<locale>/LC_MESSAGES/messages.po``,
each plugin's in the folders its ``crm_translations`` hook names (compiled ``.mo`` files are
committed so no build step is needed; :mod:`crm_core.web.catalogs` keeps them in step).
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
    """Install Flask-Babel on ``app`` with the catalogues of the core and of every plugin."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", ";".join(translation_directories(app)))
    return Babel(app, locale_selector=select_locale)
