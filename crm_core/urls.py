"""Absolute links to this CRM: from the ``BASE_URL`` setting (``CRM_BASE_URL``), never from the
request's ``Host`` header, which any client chooses (``Host: evil.example`` must not turn a short
link or a QR code into a link to another site)."""

from __future__ import annotations

from flask import current_app

DEFAULT_BASE_URL = "http://127.0.0.1:5000"  # what `crm run` serves when nothing is configured


def base_url(app=None) -> str:
    """The configured public URL of the CRM, without a trailing slash."""
    app = app or current_app
    return (app.config.get("BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def absolute_url(path: str, app=None) -> str:
    """``path`` (``/t/abc``) as an absolute URL on ``BASE_URL``."""
    return base_url(app) + "/" + path.lstrip("/")
