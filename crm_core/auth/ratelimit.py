"""Rate limits with Flask-Limiter, counted in one store that every worker shares.

What is limited, and by what key:

- every API and workbench call, per *caller*: the OAuth2 client, else the user (whatever token or
  session they use, so a fresh login does not bring a fresh quota), else the IP address:
  - ``CRM_RATELIMIT_DEFAULT`` (600/minute): the budget across all endpoints together;
  - ``CRM_RATELIMIT_ENDPOINT`` (300/minute): the cap of any one endpoint;
  - ``CRM_RATELIMIT_HEAVY`` (30/minute): the cap of an export, import, erasure, bulk change or
    "run now" endpoint.
- a route that declares its own bucket with :func:`route_limit` (an inbound webhook: per shop,
  not per IP, so one platform's burst neither starves nor is starved by everyone behind the
  same address): only that limit, per the key the route computes from its URL arguments; the
  per-caller budget and endpoint cap do not apply to it;
- failed logins and OAuth client authentications per IP (``CRM_RATELIMIT_LOGIN``), and the
  lockout of one username *from one IP* (``CRM_LOGIN_MAX_FAILURES`` failures in a row lock that
  pair for ``CRM_LOGIN_LOCKOUT_SECONDS``, doubling up to an hour): someone guessing a password
  locks out themselves, not the user, who still signs in from anywhere else.

Every refusal is ``429`` with a numeric ``Retry-After``.

Counts live in ``CRM_RATELIMIT_STORAGE_URL`` (Redis, or any ``limits`` storage). ``memory://`` is
per process: fine for ``crm run`` and a single worker, wrong for ``crm serve`` with several
workers (each would count alone), which therefore refuses to start with it
(:func:`check_shared_storage`). Keys carry ``CRM_RATELIMIT_KEY_PREFIX`` (default: derived from the
secret key and database), so several CRMs can share one Redis.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import time
from collections.abc import Callable

from flask import current_app, g, request
from flask_limiter import HeaderNames, Limiter, RateLimitExceeded
from limits import parse

from ..errors import APIError, handle_http_exception

# endpoints (lower-cased view names) whose cost justifies the tighter RATELIMIT_HEAVY cap
HEAVY_ENDPOINT_WORDS = ("export", "import", "erase", "bulk", "runnow", "dryrun", "dry_run")
LOCK_MAX_SECONDS = 3600


def client_key() -> str:
    """Who a request counts against: the OAuth2 client, else the user (any of their tokens or
    their workbench session), else the IP address."""
    actor = g.get("actor")
    if actor is not None:
        if actor.client_id:
            return f"client:{actor.client_id}"
        return f"user:{actor.id}"
    return f"ip:{request.remote_addr or '-'}"


def is_per_process(storage_url: str | None) -> bool:
    """True for a store each process keeps to itself (``memory://``)."""
    return not storage_url or storage_url.strip().lower().startswith("memory:")


def check_shared_storage(config, workers: int) -> None:
    """Raise ``ValueError`` naming ``CRM_RATELIMIT_STORAGE_URL`` when ``workers`` processes would
    each count rate limits alone (limits on, a per-process store, more than one worker)."""
    if (
        workers > 1
        and config.get("RATELIMIT_ENABLED")
        and is_per_process(config.get("RATELIMIT_STORAGE_URL"))
    ):
        raise ValueError(
            f"rate limits are on but CRM_RATELIMIT_STORAGE_URL is "
            f"{config.get('RATELIMIT_STORAGE_URL') or 'memory://'!r}, a per-process store: each of "
            f"the {workers} workers would count alone (a limit of 10 would let {10 * workers} "
            "through). Set CRM_RATELIMIT_STORAGE_URL=redis://host:6379/0 (shared by every worker), "
            "run one worker (--workers 1), or turn limits off with CRM_RATELIMIT_ENABLED=0."
        )


def key_prefix(config) -> str:
    """The prefix of every key in the store: ``RATELIMIT_KEY_PREFIX``, else one derived from the
    secret key and the database, the same in every worker of one CRM and different between CRMs."""
    configured = config.get("RATELIMIT_KEY_PREFIX")
    if configured:
        return configured
    source = "\0".join(str(config.get(k) or "") for k in ("SECRET_KEY", "DATABASE_URL", "INSTANCE_PATH"))
    return "crm-" + hashlib.sha256(source.encode()).hexdigest()[:12]


def _endpoint_limit() -> str:
    """The per-endpoint cap of this request (a Flask-Limiter dynamic limit)."""
    name = (request.endpoint or "").lower()
    if any(word in name for word in HEAVY_ENDPOINT_WORDS):
        return current_app.config.get("RATELIMIT_HEAVY") or "30/minute"
    return current_app.config.get("RATELIMIT_ENDPOINT") or "300/minute"


def install(app) -> Limiter:
    """Create the app's limiter. Call after the actor is loaded (its before_request runs later)."""
    limiter = Limiter(
        key_func=client_key,
        application_limits=[app.config["RATELIMIT_DEFAULT"]],
        default_limits=[_endpoint_limit],
        storage_uri=app.config["RATELIMIT_STORAGE_URL"] or "memory://",
        headers_enabled=True,
        # Flask-Limiter would put its own Retry-After (the longest of its windows, sometimes 0) on
        # every response, over the exact one of a lockout's 429: it gets a header of its own
        header_name_mapping={HeaderNames.RETRY_AFTER: "X-RateLimit-Retry-After"},
        strategy="fixed-window",
        key_prefix=key_prefix(app.config),
        enabled=bool(app.config["RATELIMIT_ENABLED"]),
    )
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    # the workbench's static files and the API docs are not worth counting
    limiter.request_filter(
        lambda: (request.endpoint or "").endswith("static") or request.path.startswith("/static")
    )
    # a route with its own bucket counts there only (route_limit), not in the caller's budget
    limiter.request_filter(lambda: _route_limit_of(request.endpoint, request.method) is not None)
    app.extensions["crm_limiter"] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _too_many(error):
        # the API's JSON error format, with a numeric Retry-After from the limit's window
        # (current_limit is the breached one: the budget, the endpoint's cap or a view's own)
        current = limiter.current_limit
        retry = max(1, int(current.reset_at - time.time())) if current else 60
        return handle_http_exception(
            APIError(
                429,
                f"Rate limit exceeded ({error.description}); try again in {retry} s.",
                headers={"Retry-After": str(retry)},
            )
        )

    return limiter


# -- routes with a bucket of their own ------------------------------------------------------------

ROUTE_LIMIT_ATTR = "crm_route_limit"


def route_limit(limit: str | Callable[[], str], key: Callable[..., str], *, name: str | None = None):
    """Decorate a view (a function, or a ``MethodView`` method) to count it in a bucket of its
    own instead of the caller's budget and the endpoint cap.

    ``limit`` is a limit string (``"1200/minute"``) or a callable returning one when the request
    comes (read a setting there). ``key(**view_args)`` names the bucket from the route's URL
    arguments (``lambda shop_key: shop_key``): each key has the whole limit. ``name`` (default:
    the view's qualified name) keeps buckets of different routes apart. A refusal is the usual
    ``429`` with ``Retry-After``; with limits off (``CRM_RATELIMIT_ENABLED=0``) nothing counts.
    """

    def decorate(view):
        bucket = name or f"{view.__module__}.{view.__qualname__}"

        @functools.wraps(view)
        def limited(*args, **kwargs):
            _hit_route_limit(limit() if callable(limit) else limit, bucket, str(key(**kwargs)))
            return view(*args, **kwargs)

        setattr(limited, ROUTE_LIMIT_ATTR, bucket)
        return limited

    return decorate


def _route_limit_of(endpoint: str | None, method: str) -> str | None:
    """The bucket name a view declared with :func:`route_limit`, or None."""
    view = current_app.view_functions.get(endpoint or "")
    if view is None:
        return None
    cls = getattr(view, "view_class", None)
    if cls is not None:  # a MethodView: the decorated method of this request's verb
        view = getattr(cls, method.lower(), None)
    return getattr(view, ROUTE_LIMIT_ATTR, None)


def _hit_route_limit(limit: str, bucket: str, key: str) -> None:
    limiter = _limiter()
    if limiter is None:
        return
    item = parse(limit)
    keys = (_prefix(), "route", bucket, key)
    if not limiter.limiter.hit(item, *keys):
        reset_at, _remaining = limiter.limiter.get_window_stats(item, *keys)
        retry = max(1, int(reset_at - time.time()))
        raise APIError(
            429,
            f"Rate limit exceeded ({limit} for this route); try again in {retry} s.",
            headers={"Retry-After": str(retry)},
        )


# -- logins ------------------------------------------------------------------------------------


def _limiter():
    limiter = current_app.extensions.get("crm_limiter")
    return limiter if limiter is not None and limiter.enabled else None


def _ip() -> str:
    return (request.remote_addr if request else None) or "-"


def _prefix() -> str:
    return key_prefix(current_app.config)


def check_login_rate(scope: str = "login") -> None:
    """``APIError(429)`` with ``Retry-After`` when this IP's failed attempts used up the window.

    Only failures count (``count_login_failure``), so an office full of people signing in
    behind one address is not locked out, while guessing is stopped after a few tries.
    """
    limiter = _limiter()
    if limiter is None:
        return
    item = parse(current_app.config["RATELIMIT_LOGIN"])
    keys = (_prefix(), scope, _ip())
    if not limiter.limiter.test(item, *keys):
        reset_at, _remaining = limiter.limiter.get_window_stats(item, *keys)
        retry = max(1, int(reset_at - time.time()))
        raise APIError(
            429,
            f"Too many failed login attempts from this address; try again in {retry} s.",
            headers={"Retry-After": str(retry)},
        )


def count_login_failure(scope: str = "login") -> None:
    """Count one failed login (or OAuth client authentication) from this IP."""
    limiter = _limiter()
    if limiter is not None:
        limiter.limiter.hit(parse(current_app.config["RATELIMIT_LOGIN"]), _prefix(), scope, _ip())


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


def _store():
    """The shared store of the app's limiter (also when limits are off: the lockout of a
    username from one IP is a security control, not a rate limit)."""
    limiter = current_app.extensions.get("crm_limiter")
    if limiter is not None:
        with contextlib.suppress(Exception):
            return limiter.storage
    store = current_app.extensions.get("crm_login_store")
    if store is None:
        from limits.storage import storage_from_string

        store = current_app.extensions["crm_login_store"] = storage_from_string(
            current_app.config.get("RATELIMIT_STORAGE_URL") or "memory://"
        )
    return store


def _pair(username: str) -> str:
    user = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"{_prefix()}/login-lock/{user}/{_ip()}"


def login_locked_for(username: str) -> int:
    """Seconds this username stays locked out *from this IP* (0: not locked)."""
    store = _store()
    key = _pair(username) + "/until"
    if not store.get(key):
        return 0
    return max(1, math.ceil(store.get_expiry(key) - time.time()))


def count_user_failure(username: str) -> int:
    """Count a wrong password for this username from this IP; lock the pair after
    ``LOGIN_MAX_FAILURES`` in a row (``LOGIN_LOCKOUT_SECONDS``, doubling, max 1 h). Returns the
    seconds of the lock now in force (0: none)."""
    config = current_app.config
    store = _store()
    key = _pair(username)
    failures = store.incr(key + "/failures", LOCK_MAX_SECONDS * 2)
    limit = config["LOGIN_MAX_FAILURES"]
    if not limit or failures < limit:
        return 0
    seconds = min(LOCK_MAX_SECONDS, config["LOGIN_LOCKOUT_SECONDS"] * 2 ** min(failures - limit, 16))
    store.clear(key + "/until")
    store.incr(key + "/until", seconds)
    return seconds


def clear_user_failures(username: str) -> None:
    """A right password from this IP: its count of failures starts again."""
    store = _store()
    key = _pair(username)
    store.clear(key + "/failures")
    store.clear(key + "/until")
