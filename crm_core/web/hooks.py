"""The web workbench as a plugin: its blueprint, app setup (sessions, CSRF, languages) and menu."""

from __future__ import annotations

from flask import g, has_request_context, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFProtect

from .. import hookimpl
from ..errors import API_PREFIXES
from . import messages, pages
from .admin import ADMIN_PERMISSIONS
from .i18n import DEFAULT_LANGUAGE, LANGUAGES, TRANSLATIONS, init_babel, normalise
from .lookup import REFERENCE_PAGES, stage_or_pipeline_name, user_name
from .nav import nav_entries
from .registry import object_types, value_label
from .session import load_session_actor

requires = ("core.auth",)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


@hookimpl
def crm_web_blueprints():
    """The workbench's pages (blueprint ``web``)."""
    return [pages.bp]


@hookimpl
def crm_translations():
    """The core's catalogue (workbench pages, validation and error messages)."""
    return [str(TRANSLATIONS)]


@hookimpl(trylast=True)
def crm_startup(app):
    """Languages, CSRF on every non-API form post, and the session actor.

    ``trylast`` so our ``before_request`` runs after ``core.auth``'s (which resets ``g.actor``).
    """
    app.extensions["crm_messages"] = messages  # crm_core.errors.localise translates with it
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # API calls use tokens, not cookies
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session: long-open forms work
    # session cookie flags (SameSite=Lax, HttpOnly, Secure) and the pages' CSP: crm_core.app
    csrf = CSRFProtect(app)
    init_babel(app)

    @app.before_request
    def _web_request():
        if request.path.startswith(API_PREFIXES):
            return
        # g outlives a request when an app context is already pushed (tests, embedding); the
        # CSRF token and the locale Flask-WTF and Flask-Babel cache there belong to one request
        g.pop(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
        g.pop("_flask_babel", None)
        # (unrouted requests fall through to their 404/405 instead of a CSRF 400)
        unsafe = request.method not in SAFE_METHODS and request.url_rule is not None
        if unsafe and app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()  # 400 (CSRFError) when the token is missing or wrong
        load_session_actor()

    @app.after_request
    def _page_headers(response):
        # workbench pages are never framed by another site (clickjacking) nor sniffed
        if not request.path.startswith(API_PREFIXES) and response.mimetype == "text/html":
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    app.jinja_env.globals["user_name"] = user_name  # globals reach imported macros too
    app.jinja_env.globals["value_label"] = value_label
    app.jinja_env.globals["stage_or_pipeline_name"] = stage_or_pipeline_name
    app.jinja_env.globals["REFERENCE_PAGES"] = REFERENCE_PAGES

    @app.context_processor
    def _workbench_globals():
        return {
            "nav_entries": nav_entries,
            "languages": LANGUAGES,
            "current_locale": normalise(str(get_locale() or "")) or DEFAULT_LANGUAGE,
        }


@hookimpl
def crm_nav():
    """The core's menu: dashboard, the business collections, the pipeline board, the ticket queue
    and administration (each shown only to users holding its permission)."""

    def collection(resource, label, order):
        """A menu entry for the generic list of ``resource``."""
        return {
            "label": label,
            "endpoint": "web.record_list",
            "args": {"resource": resource},
            "permission": f"{resource}:read",
            "order": order,
        }

    entries = [
        {"label": _l("Dashboard"), "endpoint": "web.dashboard", "permission": None, "order": 0},
        collection("customers", _l("Customers"), 10),
        collection("companies", _l("Companies"), 20),
        {"label": _l("Pipeline"), "endpoint": "web.pipeline", "permission": "deals:read", "order": 30},
        collection("deals", _l("Deals"), 31),
        collection("activities", _l("Activities"), 40),
        {
            "label": _l("Ticket queue"),
            "endpoint": "web.ticket_queue",
            "permission": "tickets:read",
            "order": 50,
        },
        collection("segments", _l("Segments"), 60),
        {
            "kind": "dashboard",
            "label": _l("Due today and overdue"),
            "template": "crm/reminders_panel.html",
            "permission": "activities:read",
            "order": 5,
        },
        {
            "kind": "customer_panel",
            "label": _l("Companies"),
            "template": "crm/companies/customer_panel.html",
            "permission": "contacts:read",
            "order": 10,
        },
        {
            "label": _l("Administration"),
            "endpoint": "web.admin_home",
            "permission": ADMIN_PERMISSIONS,
            "order": 90,
        },
    ]
    if has_request_context():  # custom object types exist only in a database
        for order, (resource, label) in enumerate(object_types(), start=70):
            entries.append(collection(resource, label, order))
    return entries
