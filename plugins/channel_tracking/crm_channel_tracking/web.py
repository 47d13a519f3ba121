"""The short-link redirect ``/t/<code>``: record the click (or QR scan), then redirect to the
link's fixed destination with the campaign's UTM values appended.

It is a plain Flask blueprint outside ``/api/`` because browsers and phone cameras follow it with
no credentials. The destination comes only from the stored link and is re-checked against the
allowed domains, so no parameter of the request can turn it into an open redirect.
"""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, abort, redirect, request

from crm_core.plugin_api import database, utcnow

from .ingest import prepare, store, validate_event
from .links import destination, unsafe_reason
from .models import Campaign, TrackingLink

web_blp = Blueprint("channel_tracking_links", __name__)

VISITOR_COOKIE = "ct_vid"
_VISITOR_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@web_blp.route("/t/<string:code>")
def follow(code):
    """Record a click on a tracking link and redirect (302) to its destination."""
    if len(code) > 32:
        abort(404)
    link = TrackingLink.select(TrackingLink, Campaign).join(Campaign).where(TrackingLink.code == code).first()
    if link is None or unsafe_reason(link.target_url) is not None:
        # an unknown code, or a destination no longer allowed: never redirect blindly
        abort(404)
    campaign = link.campaign
    visitor = request.cookies.get(VISITOR_COOKIE, "")
    if not _VISITOR_RE.match(visitor):
        visitor = uuid.uuid4().hex
    utm = {
        "utm_source": campaign.utm_source,
        "utm_medium": campaign.utm_medium,
        "utm_campaign": campaign.utm_campaign,
        "utm_term": campaign.utm_term,
        "utm_content": campaign.utm_content or (link.kol or ""),
    }
    event = {
        "visitor_id": visitor,
        "event_type": "qr_scan" if request.args.get("qr") == "1" else "link_click",
        "referrer": (request.referrer or "")[:2000] or None,
        **{k: v for k, v in utm.items() if v},
    }
    now = utcnow()
    row, errors = validate_event(event, now, now)
    if row is not None:
        row["link_id"] = link.id
        row["kol"] = link.kol or campaign.kol
        with database.atomic():
            store(prepare([row], now))
            TrackingLink.update(clicks=TrackingLink.clicks + 1).where(TrackingLink.id == link.id).execute()
    response = redirect(destination(link.target_url, utm, {VISITOR_COOKIE: visitor}), code=302)
    response.set_cookie(
        VISITOR_COOKIE, visitor, max_age=365 * 86400, samesite="Lax", secure=request.is_secure
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer-when-downgrade"
    return response
