"""Session login for the workbench: the same users and ``Actor`` as the API's bearer tokens.

The session stores the user id and a fingerprint of the password hash: changing the password (here
or through the API) logs every other browser session out, as it revokes the API tokens.
"""

from __future__ import annotations

import functools
import hashlib
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for

from ..auth import actor_for_user
from ..auth.models import User
from ..errors import API_PREFIXES

SESSION_USER = "crm_uid"
SESSION_STAMP = "crm_pw"


def password_stamp(user: User) -> str:
    """A short fingerprint of the user's password hash, kept in the session cookie."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _fresh_session() -> str | None:
    """Clear the session (new CSRF secret too) and return the language it held.

    Flask-WTF caches the token of the old secret in ``g``; drop it so pages rendered after this
    carry a token of the new session.
    """
    language = session.get("lang")
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    return language


def start_session(user: User) -> None:
    """Log ``user`` in for this browser (a fresh session: no fixation)."""
    language = _fresh_session()
    session[SESSION_USER] = user.id
    session[SESSION_STAMP] = password_stamp(user)
    if language:
        session["lang"] = language
    session.permanent = True


def end_session() -> None:
    """Log out: forget the user but keep the chosen language."""
    language = _fresh_session()
    if language:
        session["lang"] = language


def load_session_actor() -> None:
    """``before_request`` for web pages: set ``g.actor`` / ``g.web_user`` from the session cookie.

    API paths keep bearer-token auth only, so a browser session never authorises an API call
    (which would need CSRF protection there too).
    """
    g.web_user = None
    if request.path.startswith(API_PREFIXES) or request.endpoint == "static":
        return
    uid = session.get(SESSION_USER)
    if not uid:
        return
    user = User.get_or_none(User.id == uid)
    if user is None or not user.is_active or session.get(SESSION_STAMP) != password_stamp(user):
        end_session()
        return
    g.web_user = user
    g.actor = actor_for_user(user)


def web_actor():
    """The logged-in ``Actor`` of this web request, or None."""
    return g.get("actor") if g.get("web_user") is not None else None


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a local path (never an open redirect to another site), else None."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # browsers read "/\\host" as "//host", and strip tabs/newlines inside URLs
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def login_required(view):
    """Send anonymous visitors to the login page, remembering where they wanted to go."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("web_user") is None:
            target = request.full_path if request.query_string else request.path
            return redirect(url_for("web.login", next=target))
        return view(*args, **kwargs)

    return wrapped
