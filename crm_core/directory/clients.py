"""OAuth2 clients as administrators register them (the endpoints themselves are
``crm_core.auth.oauth``):

- an integration (client credentials): a name, the user it acts as, scopes that must name real
  permissions;
- a third-party app (authorization code + PKCE): a name, its redirect URIs, the scopes it may ask
  for, and whether it is confidential (gets a secret) or public (a browser or mobile app: PKCE
  alone). Each user who approves it grants at most the scopes they hold themselves.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from ..auth.models import OAuthClient, User
from ..auth.oauth import secret_hash
from ..errors import APIError
from ..permissions import validate_scope_strings

CLIENT_CREDENTIALS = "client_credentials"
AUTHORIZATION_CODE = "authorization_code"
APP_GRANT_TYPES = "authorization_code refresh_token"
MAX_REDIRECT_URIS = 10
LOOPBACK_HOSTS = ("localhost",)


def _loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_problems(uris) -> list[str]:
    """What is wrong with an app's redirect URIs (empty: valid). Each is an absolute ``https``
    URL (``http`` only for localhost / loopback addresses, RFC 8252 §7.3), with no fragment
    (RFC 6749 §3.1.2), no wildcard and no user or password; they are later matched exactly."""
    if not isinstance(uris, list | tuple) or not uris:
        return ["Give at least one redirect URI, e.g. 'https://app.example.com/callback'."]
    if len(uris) > MAX_REDIRECT_URIS:
        return [f"At most {MAX_REDIRECT_URIS} redirect URIs."]
    problems = []
    for uri in uris:
        if not isinstance(uri, str) or not uri or len(uri) > 2000 or any(c.isspace() for c in uri):
            problems.append(f"{uri!r} is not a URL.")
            continue
        try:
            parts = urlsplit(uri)
            host = parts.hostname or ""
        except ValueError:
            problems.append(f"{uri!r} is not a URL.")
            continue
        if parts.scheme not in ("https", "http") or not host:
            problems.append(f"{uri}: must be an absolute https:// URL.")
        elif parts.scheme == "http" and not _loopback(host):
            problems.append(f"{uri}: must use https (http only for localhost).")
        elif parts.fragment or "#" in uri:
            problems.append(f"{uri}: must not contain a fragment (#).")
        elif "*" in uri:
            problems.append(f"{uri}: wildcards are not allowed; URIs are matched exactly.")
        elif parts.username or parts.password:
            problems.append(f"{uri}: must not contain a user name or password.")
    return problems


def create_client(
    name: str,
    user_id: int | None,
    scopes,
    created_by: int | None = None,
    grant_type: str = CLIENT_CREDENTIALS,
    redirect_uris=(),
    public: bool = False,
) -> tuple[OAuthClient, str | None]:
    """Create a client; returns (row, raw secret, or None for a public app). The secret is shown
    once and stored hashed. 422 with per-field errors on bad input."""
    errors = {}
    name = (name or "").strip()
    if not name or len(name) > 200:
        errors["name"] = ["Must be 1 to 200 characters."]
    user = None
    if grant_type == CLIENT_CREDENTIALS:
        user = User.get_or_none(User.id == user_id) if user_id is not None else None
        if user is None:
            errors["user_id"] = [f"No user {user_id}."]
        if public:
            errors["public"] = ["Only apps (authorization code) can be public."]
    elif grant_type == AUTHORIZATION_CODE:
        if user_id is not None:
            errors["user_id"] = ["An app acts as each user who approves it: leave user_id out."]
        problems = redirect_uri_problems(list(redirect_uris or ()))
        if problems:
            errors["redirect_uris"] = problems
    else:
        errors["grant_type"] = [f"Must be {CLIENT_CREDENTIALS} or {AUTHORIZATION_CODE}."]
    problems = validate_scope_strings(scopes)
    if problems:
        errors["scopes"] = problems
    if errors:
        raise APIError(422, "Invalid OAuth client.", errors=errors)
    secret = None if public else secrets.token_urlsafe(32)
    row = OAuthClient.create(
        client_id="crm_" + secrets.token_hex(12),
        secret_hash=secret_hash(secret) if secret else "",
        name=name,
        user=user,
        scopes=" ".join(sorted(set(scopes))),
        created_by=created_by,
        grant_types=CLIENT_CREDENTIALS if grant_type == CLIENT_CREDENTIALS else APP_GRANT_TYPES,
        redirect_uris="\n".join(dict.fromkeys(redirect_uris or ())),
        public=bool(public),
    )
    return row, secret
