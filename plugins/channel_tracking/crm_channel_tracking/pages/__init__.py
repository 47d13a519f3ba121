"""The plugin's workbench screens (``crm_web_blueprints``): campaigns with their budgets, spend,
tracking links and QR codes; touchpoints; funnels; attribution by model; channel and KOL ROI.

Built only on the core's public web contract, as a third-party plugin would be:
``crm_core.plugin_api.login_required`` / ``web_actor`` and its permission functions for every decision,
templates extending ``crm/base.html``, the vendored Chart.js from ``/static``. The numbers come
from the same functions the REST API answers with (:mod:`..reports`, :mod:`..funnels`,
:mod:`..metrics`).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "channel_tracking_web",
    __name__,
    url_prefix="/channel-tracking",
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/static",
)

from . import analytics, campaigns  # noqa: E402,F401  the routes register on bp
