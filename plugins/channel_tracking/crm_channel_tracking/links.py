"""Tracking links and QR codes, and the rules that keep redirects from being open redirects.

A link's destination is fixed when the link is created, must be ``http``/``https`` and its host
must be one of ``CHANNEL_TRACKING_REDIRECT_DOMAINS`` (or a subdomain of one); with none
configured, the CRM's own host (``CRM_BASE_URL``). It is checked again
at redirect time (the list may have shrunk since), the URL is rebuilt from its parsed parts, and
nothing in the incoming request can change where it goes. QR codes (segno) encode the short link
with ``?qr=1`` so scans are recorded as their own event type.
"""

from __future__ import annotations

import io
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import segno
from flask_babel import gettext as _

from .settings import redirect_domains

CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_code(length: int = 8) -> str:
    """A random short code without look-alike characters."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def unsafe_reason(url: str, allowed: tuple[str, ...] | None = None) -> str | None:
    """Why ``url`` may not be a redirect target (None when it may)."""
    allowed = redirect_domains() if allowed is None else allowed
    if not isinstance(url, str) or not url or len(url) > 1800:
        return _("Must be an absolute http(s) URL of at most 1800 characters.")
    if any(ch in url for ch in "\\\r\n\t ") or not url.isprintable():
        return _("Must not contain spaces, backslashes or control characters.")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018  raises ValueError on a malformed port
    except ValueError:
        return _("Not a valid URL.")
    if parts.scheme not in ("http", "https") or not host:
        return _("Must be an absolute http(s) URL.")
    if parts.username is not None or parts.password is not None:
        return _("Must not contain credentials.")
    if not allowed:
        return _("No redirect domains are configured (CHANNEL_TRACKING_REDIRECT_DOMAINS or CRM_BASE_URL).")
    if not any(host == d or host.endswith("." + d) for d in allowed):
        return _(
            "Host %(host)s is not one of the allowed redirect domains (%(allowed)s).",
            host=host,
            allowed=", ".join(allowed),
        )
    return None


def destination(target_url: str, utm: dict[str, str], extra: dict[str, str] | None = None) -> str:
    """``target_url`` rebuilt from its parts with the UTM values (and ``extra``) appended;
    parameters already on the target keep their values."""
    parts = urlsplit(target_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    for key, value in {**utm, **(extra or {})}.items():
        if value and key not in present:
            query.append((key, value))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), parts.fragment))


def qr_image(data: str, kind: str, scale: int = 8) -> tuple[bytes, str]:
    """A QR code of ``data`` as ``(bytes, mimetype)``; ``kind`` is ``png`` or ``svg``."""
    code = segno.make(data, error="m")
    out = io.BytesIO()
    if kind == "svg":
        code.save(out, kind="svg", scale=scale, xmldecl=True)
        return out.getvalue(), "image/svg+xml"
    code.save(out, kind="png", scale=scale)
    return out.getvalue(), "image/png"
