"""The plugin's settings, read from the app config with the defaults documented in
``crm_core.config`` (``CHANNEL_TRACKING_*``), so the plugin also runs on a core without them."""

from __future__ import annotations

from flask import current_app

DEFAULTS = {
    "LOOKBACK_DAYS": 30,
    "HALF_LIFE_DAYS": 7,
    "SESSION_TIMEOUT_MINUTES": 30,
    "FUNNEL_WINDOW_DAYS": 14,
    "CURRENCY": "CNY",
    "CORS_ORIGINS": "*",
    "RATE_LIMIT": "3000/minute",
    "REDIRECT_DOMAINS": "",
    "RETENTION_MONTHS": 25,
}


def setting(name: str):
    """``CHANNEL_TRACKING_<name>`` from the app config, or its default."""
    return current_app.config.get(f"CHANNEL_TRACKING_{name}", DEFAULTS[name])


def setting_list(name: str) -> tuple[str, ...]:
    """A comma-separated setting as a tuple of lower-case, stripped, non-empty items."""
    return tuple(part.strip().lower() for part in str(setting(name)).split(",") if part.strip())


def redirect_domains() -> tuple[str, ...]:
    """The hosts tracking links may redirect to (and whose referrers count as direct):
    ``CHANNEL_TRACKING_REDIRECT_DOMAINS``, or, when none are configured, the CRM's own host from
    ``CRM_BASE_URL`` (core setting ``BASE_URL``), so a fresh install can make a link at once."""
    configured = setting_list("REDIRECT_DOMAINS")
    if configured:
        return configured
    from urllib.parse import urlsplit

    from crm_core.urls import base_url

    host = (urlsplit(base_url()).hostname or "").lower().rstrip(".")
    return (host,) if host else ()
