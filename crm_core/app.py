"""``create_app``: the one place where configuration, database, plugins, API and web are wired."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from . import errors, inputs, stamps
from .api import create_api
from .config import PluginSettings, ensure_secret_key, load_config, plugin_settings, read_setting
from .db import database, default_url, log_slow_queries, open_database
from .errors import API_PREFIXES
from .ops.logs import formatter as log_formatter
from .pgpool import ExpectationFailed
from .plugins import PluginManager, disabled_from_env

REQUEST_ID_HEADER = "X-Request-ID"


@dataclass
class CRM:
    """What the app knows about itself: ``app.extensions["crm"]``."""

    plugins: PluginManager
    db: object
    models: list = field(default_factory=list)
    api: object = None


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record (``-`` outside a request)."""

    def filter(self, record):
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:
            record.request_id = "-"
        return True


def create_app(config: dict | None = None, plugins: list[tuple[str, object]] | None = None) -> Flask:
    """Build the CRM app.

    ``config`` overrides settings from the environment and instance file (see
    :mod:`crm_core.config`); ``plugins`` registers extra ``(name, plugin)`` pairs besides the
    installed entry points (tests and embedding). Raises ``ConfigError`` on invalid settings.
    """
    settings, manager = load_settings(config, plugins)
    app = _App("crm_core", instance_path=settings["INSTANCE_PATH"], instance_relative_config=True)
    app.config.update(settings)
    app.config["SECRET_KEY"] = ensure_secret_key(settings)
    app.config.setdefault("JSON_SORT_KEYS", False)
    _cookie_settings(app, config or {})
    _configure_logging(app)
    inputs.install(app)  # before any blueprint: bounded <int:> ids, JSON limits

    db = open_database(settings["DATABASE_URL"] or default_url(settings["INSTANCE_PATH"]))
    log_slow_queries(db, settings["SLOW_QUERY_MS"])
    crm = CRM(plugins=manager, db=db)
    for models in manager.hook.crm_models():
        crm.models.extend(models)
    app.extensions["crm"] = crm

    _trust_proxies(app, settings["TRUSTED_PROXIES"])
    _install_request_hooks(app)
    _install_security_headers(app)
    crm.api = create_api(app)
    for blueprints in manager.hook.crm_web_blueprints():
        for blp in blueprints:
            app.register_blueprint(blp)
    errors.register(app)
    manager.hook.crm_startup.call_historic(kwargs={"app": app})
    return app


class _App(Flask):
    """Flask, running a read again when it answered from request stamps it assumed and that were
    stale (``crm_core.stamps.assume``): once more from the start, its stamps read this time."""

    def full_dispatch_request(self):
        before = dict(g.__dict__)  # what the request's own work set on g is dropped for the rerun
        response = super().full_dispatch_request()
        if not stamps.stale():
            return response
        g.__dict__.clear()
        g.__dict__.update(before)
        stamps.run_again()
        return super().full_dispatch_request()

    def handle_user_exception(self, e):
        if isinstance(e, ExpectationFailed):
            # a placeholder, never sent: full_dispatch_request runs the request again
            return self.response_class(status=503)
        return super().handle_user_exception(e)


def _trust_proxies(app: Flask, hops: int) -> None:
    """Behind ``hops`` reverse proxies, take the client's address, scheme and host from their
    ``X-Forwarded-*`` headers (werkzeug's ProxyFix), so per-IP rate limits, the login lockout and
    the audit log see the client, not the proxy. Never trusted by default: a client could claim
    any address."""
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def load_settings(
    config: dict | None = None, plugins: list[tuple[str, object]] | None = None
) -> tuple[dict, PluginManager]:
    """The validated configuration and the loaded plugins, as ``create_app`` uses them.

    Plugins are loaded first (``PLUGINS_DISABLED`` is read on its own for that), so the settings
    they declare through ``crm_settings`` are checked with the core's; ``crm serve`` checks the
    configuration this way before it starts workers. Raises ``ConfigError`` on invalid settings.
    """
    manager, declared = load_plugins(config, plugins)
    return load_config(config, plugins=declared), manager


def load_plugins(
    config: dict | None = None, plugins: list[tuple[str, object]] | None = None
) -> tuple[PluginManager, PluginSettings]:
    """The loaded plugins (all installed but those ``PLUGINS_DISABLED`` names, plus ``plugins``)
    and the settings they declare (``crm_settings``), checked but not yet read: what
    :func:`load_settings` and ``crm settings`` start from. Raises ``ConfigError`` on a malformed
    declaration."""
    manager = PluginManager(disabled=disabled_from_env(read_setting("PLUGINS_DISABLED", config)))
    manager.load(extra=plugins)
    inactive = manager.disabled | {info.name for info in manager.infos.values() if not info.enabled}
    declared = manager.in_dependency_order(manager.calls("crm_settings"))
    return manager, plugin_settings(declared, sorted(inactive))


def _configure_logging(app: Flask) -> None:
    # text or JSON lines (LOG_FORMAT); the handler is the process's, so the latest app's format wins
    chosen = log_formatter(app.config["LOG_FORMAT"])
    root = logging.getLogger("crm_core")
    ours = [h for h in root.handlers if h.filters and isinstance(h.filters[0], RequestIdFilter)]
    if not ours:
        handler = logging.StreamHandler()
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
        ours = [handler]
    for handler in ours:
        handler.setFormatter(chosen)
    root.setLevel(app.config["LOG_LEVEL"])
    app.logger.addFilter(RequestIdFilter())


def _install_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex

    @app.after_request
    def _stamp(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
        return response

    # peewee connects on first use; closing after each request keeps workers from holding idle
    # connections (and SQLite files) between requests
    @app.teardown_request
    def _close(exc):
        if not database.is_closed() and not database.in_transaction():
            database.close()


class _SessionCookies(SecureCookieSessionInterface):
    """Flask's cookie sessions, with the signing serializer built once per key set (Flask builds
    one when it opens and when it saves the session of every request, API calls included)."""

    def __init__(self):
        self._signers: dict[tuple, object] = {}

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        signer = self._signers.get(keys)
        if signer is None:
            signer = self._signers[keys] = super().get_signing_serializer(app)
        return signer


def _cookie_settings(app: Flask, config: dict) -> None:
    """Session cookie: SameSite=Lax unless the caller chose otherwise (Flask's own default is
    None, so a ``setdefault`` never applies), HttpOnly, Secure when configured or when the CRM is
    served over HTTPS (``BASE_URL``)."""
    app.session_interface = _SessionCookies()
    if "SESSION_COOKIE_SAMESITE" not in config:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config["BASE_URL"].startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True


#: workbench pages load scripts, styles and images from the CRM only; no inline script
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'self'"
)
#: API answers are data, never a document to render or frame
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def _install_security_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        api = request.path.startswith(API_PREFIXES)
        if api and response.mimetype != "text/html":  # (the Swagger UI page has inline script)
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Content-Security-Policy", API_CSP)
            if "Authorization" in request.headers or g.get("actor") is not None:
                # an authenticated answer is for this caller only: no shared or disk cache
                headers["Cache-Control"] = "no-store"
                headers.setdefault("Pragma", "no-cache")
        elif response.mimetype == "text/html" and not api:
            csp, extra = PAGE_CSP, g.get("csp_form_action")
            if extra:  # the OAuth consent form answers with a redirect to the app's own origin
                csp = csp.replace("form-action 'self'", f"form-action 'self' {extra}")
            headers.setdefault("Content-Security-Policy", csp)
            headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response
