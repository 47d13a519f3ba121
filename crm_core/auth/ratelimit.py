"""Rate limits with Flask-Limiter: every API call per token or OAuth2 client (per IP when
anonymous), and login / OAuth token requests per IP. Memory storage by default; Redis (or any
``limits`` storage) when ``CRM_RATELIMIT_STORAGE_URL`` says so, so that several workers share counts.

Flask-Limiter was chosen because it plugs into Flask's request cycle and its ``limits`` storages
give the same fixed-window counting in memory and in Redis; the login limit uses the same storage
directly (``limiter.limiter.hit``) so it can be checked inside the view before any password work.
"""

from __future__ import annotations

import contextlib
import hashlib
import time

from flask import current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse

from ..errors import APIError


def client_key() -> str:
    """Who a request counts against: the OAuth2 client, else the bearer token, else the signed-in
    user (workbench session), else the IP address."""
    actor = g.get("actor")
    if actor is not None:
        if actor.client_id:
            return f"client:{actor.client_id}"
        # a digest of the token rather than its row id: ids repeat across databases that may
        # share one Redis, random tokens do not
        header = request.headers.get("Authorization", "")
        if header:
            return "token:" + hashlib.sha256(header.encode()).hexdigest()[:32]
        return f"user:{actor.id}"  # a workbench session
    return f"ip:{request.remote_addr or '-'}"


def install(app) -> Limiter:
    """Create the app's limiter. Call after the actor is loaded (its before_request runs later)."""
    limiter = Limiter(
        key_func=client_key,
        default_limits=[app.config["RATELIMIT_DEFAULT"]],
        storage_uri=app.config["RATELIMIT_STORAGE_URL"] or "memory://",
        headers_enabled=True,
        strategy="fixed-window",
        key_prefix="crm",
        enabled=bool(app.config["RATELIMIT_ENABLED"]),
    )
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    # the workbench's static files and the API docs are not worth counting
    limiter.request_filter(
        lambda: (request.endpoint or "").endswith("static") or request.path.startswith("/static")
    )
    app.extensions["crm_limiter"] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _too_many(error):
        # the API's JSON error format, with a numeric Retry-After from the limit's window
        current = limiter.current_limit
        retry = max(1, int(current.reset_at - time.time())) if current else 60
        from ..errors import handle_http_exception

        return handle_http_exception(
            APIError(
                429,
                f"Rate limit exceeded ({error.description}); try again in {retry} s.",
                headers={"Retry-After": str(retry)},
            )
        )

    return limiter


def _login_limit():
    limiter = current_app.extensions.get("crm_limiter")
    if limiter is None or not limiter.enabled:
        return None, None
    return limiter, parse(current_app.config["RATELIMIT_LOGIN"])


def check_login_rate(scope: str = "login") -> None:
    """``APIError(429)`` with ``Retry-After`` when this IP's failed attempts used up the window.

    Only failures count (``count_login_failure``), so an office full of people signing in
    behind one address is not locked out, while guessing is stopped after a few tries.
    """
    limiter, item = _login_limit()
    if limiter is None:
        return
    ip = request.remote_addr or "-"
    if not limiter.limiter.test(item, scope, ip):
        reset_at, _remaining = limiter.limiter.get_window_stats(item, scope, ip)
        retry = max(1, int(reset_at - time.time()))
        raise APIError(
            429,
            f"Too many failed login attempts from this address; try again in {retry} s.",
            headers={"Retry-After": str(retry)},
        )


def count_login_failure(scope: str = "login") -> None:
    """Count one failed login (or OAuth client authentication) from this IP."""
    limiter, item = _login_limit()
    if limiter is not None:
        limiter.limiter.hit(item, scope, request.remote_addr or "-")


@contextlib.contextmanager
def login_attempt(scope: str = "login"):
    """Wrap a password check: refuse when the IP is over the limit, count the attempt if it fails
    (any ``APIError`` 400/401 raised inside). The web login uses this too."""
    check_login_rate(scope)
    try:
        yield
    except APIError as exc:
        if exc.code in (400, 401):
            count_login_failure(scope)
        raise
