"""The plugin's settings (``CHANNEL_TRACKING_*``): declared to the core through ``crm_settings``
(see ``hooks.py``), so they are read from ``crm.toml``, ``CRM_CHANNEL_TRACKING_*`` environment
variables and the app's config with the core's type checks, and read back from the app config."""

from __future__ import annotations

from flask import current_app

from crm_core.plugin_api import Setting

SETTINGS: dict[str, Setting] = {
    "CHANNEL_TRACKING_LOOKBACK_DAYS": Setting(int, 30, "attribution lookback window in days"),
    "CHANNEL_TRACKING_HALF_LIFE_DAYS": Setting(int, 7, "time-decay attribution half-life in days"),
    "CHANNEL_TRACKING_SESSION_TIMEOUT_MINUTES": Setting(int, 30, "inactivity that starts a new session"),
    "CHANNEL_TRACKING_FUNNEL_WINDOW_DAYS": Setting(int, 14, "funnel conversion window in days"),
    "CHANNEL_TRACKING_CURRENCY": Setting(str, "CNY", "currency of conversions and spend without one"),
    "CHANNEL_TRACKING_CORS_ORIGINS": Setting(str, "*", "origins allowed to send events (comma list or *)"),
    "CHANNEL_TRACKING_RATE_LIMIT": Setting(str, "3000/minute", "ingestion requests per key (limits syntax)"),
    "CHANNEL_TRACKING_REDIRECT_DOMAINS": Setting(
        str, "", "hosts tracking links may redirect to (comma list; subdomains included)"
    ),
    "CHANNEL_TRACKING_RETENTION_MONTHS": Setting(int, 25, "months of touchpoints kept"),
}


def setting(name: str):
    """``CHANNEL_TRACKING_<name>`` from the app config (the core filled in its default)."""
    return current_app.config[f"CHANNEL_TRACKING_{name}"]


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

    from crm_core.plugin_api import base_url

    host = (urlsplit(base_url()).hostname or "").lower().rstrip(".")
    return (host,) if host else ()
