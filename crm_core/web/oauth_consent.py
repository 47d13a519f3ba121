"""The OAuth2 authorization endpoint (``/authorize``): the consent screen of third-party apps.

A workbench page, not an API path: it needs the browser session (the user logs in first, then
comes back here) and CSRF protection on the approve/deny form. The rules are Authlib's
authorization-code grant with the checks of ``crm_core.auth.oauth_grants`` (PKCE S256 for every
client, exact redirect URI):

- an unknown app or a redirect URI that is not registered exactly is shown here as an error and
  never redirected to (RFC 6749 §4.1.2.1: that would make us an open redirector);
- every other error, and a denial, goes back to the app's redirect URI with ``error``,
  ``error_description`` and the app's ``state``;
- the scopes asked for that the user does not hold are *dropped* (listed on the screen as not
  granted); when none is left, the app gets ``invalid_scope``.

Every answer sent back carries ``iss`` (RFC 9207), so an app talking to several servers can
tell which one answered.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidScopeError
from flask import current_app, g, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import audit
from ..auth.oauth_grants import Approval
from ..db import database
from ..permissions import resources, scope_problems
from ..records.labels import RESOURCE_LABELS
from .blueprint import bp
from .session import login_required

#: the authorization-request parameters the consent form carries back to the POST
PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)

#: an origin safe to put in a CSP source list (a registered redirect URI's; no spaces, quotes or ;)
ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")

ACTION_LABELS = {
    "read": _l("view"),
    "create": _l("create"),
    "update": _l("change"),
    "delete": _l("delete"),
    "write": _l("view, create, change and delete"),
    "*": _l("do everything with"),
}


def grantable_scopes(actor, scopes) -> tuple[list[str], list[str]]:
    """``(granted, dropped)``: the requested ``scopes`` ``actor`` holds itself, and the others,
    by ``crm_core.permissions.scope_problems`` (the rule that also keeps a client-credentials
    client within its creator's rights)."""
    granted, dropped = [], []
    for scope in sorted(set(scopes or ())):
        (dropped if scope_problems(actor, [scope]) else granted).append(scope)
    return granted, dropped


def scope_label(scope: str) -> str:
    """A scope in words, in the page's language: ``customers:read`` -> "view Customers"."""
    if scope == "*":
        return _("Everything you may do in the CRM")
    resource, _sep, action = scope.rpartition(":")
    label = RESOURCE_LABELS.get(resource) or resources().get(resource, {}).get("label") or resource
    verb = ACTION_LABELS.get(action)
    if verb is None:
        return _("%(action)s %(resource)s", action=action, resource=label)
    return _("%(action)s %(resource)s", action=verb, resource=label)


def issuer() -> str:
    """This server's issuer identifier (RFC 8414 / RFC 9207): ``BASE_URL`` or the request's host."""
    return (current_app.config.get("BASE_URL") or request.host_url).rstrip("/")


def _with_iss(response):
    """Add ``iss`` (RFC 9207) to a redirect back to the app."""
    location = response.headers.get("Location")
    if location:
        separator = "&" if "?" in location else "?"
        response.headers["Location"] = f"{location}{separator}{urlencode({'iss': issuer()})}"
    return response


def _error_page(error: OAuth2Error):
    """An error we must not redirect (unknown app, unregistered redirect URI), shown here."""
    if error.error == "invalid_client":
        headline = _("This app is not registered here, or it has been removed.")
    elif "redirect" in (error.description or "").lower():
        headline = _("The app asked to send you to an address it has not registered.")
    else:
        headline = _("The app's authorization request is not valid.")
    page = render_template(
        "crm/oauth/error.html", headline=headline, error=error.error, description=error.description or ""
    )
    return page, 400


def _back_to_app(server, error: OAuth2Error):
    return _with_iss(server.handle_error_response(None, error))


@bp.route("/authorize", methods=["GET", "POST"])
@login_required
def oauth_authorize():
    """Ask the logged-in user whether the app may act as them (GET), then send the answer back
    to the app (POST ``decision=approve|deny``): a single-use code valid a few minutes, or
    ``error=access_denied``; always with the app's ``state``."""
    server = current_app.extensions["crm_oauth"]
    user, actor = g.web_user, g.actor
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):
            return _back_to_app(server, error)
        return _error_page(error)
    asked = (grant.request.scope or "").split()
    granted, dropped = grantable_scopes(actor, asked)
    if not granted:
        error = InvalidScopeError(
            description="The user holds none of the permissions the app asks for.",
            redirect_uri=grant.redirect_uri,
            state=grant.request.payload.state,
        )
        return _back_to_app(server, error)
    client = grant.client.row
    if request.method == "GET":
        # the form's answer redirects to the app: allow that one origin (CSP form-action, which
        # browsers apply to the redirect too; crm_core.app adds it to the page's policy)
        origin = urlsplit(grant.redirect_uri)
        origin = f"{origin.scheme}://{origin.netloc}"
        if ORIGIN_RE.match(origin):
            g.csp_form_action = origin
        return render_template(
            "crm/oauth/consent.html",
            client=client,
            granted=[(s, scope_label(s)) for s in granted],
            dropped=[(s, scope_label(s)) for s in dropped],
            redirect_host=urlsplit(grant.redirect_uri).netloc,
            params={name: request.args.get(name) for name in PARAMS if request.args.get(name) is not None},
        )
    approved = request.form.get("decision") == "approve"
    with database.atomic():
        approval = Approval(user, tuple(granted)) if approved else None
        response = server.create_authorization_response(grant_user=approval, grant=grant)
        audit.record_event(
            user,
            "oauth_consent",
            "oauth_clients",
            record_id=client.id,
            extra={
                "client_id": client.client_id,
                "approved": approved,
                "scopes": granted if approved else [],
            },
        )
    return _with_iss(response)


@bp.route("/.well-known/oauth-authorization-server")
def oauth_metadata():
    """Authorization server metadata (RFC 8414): where the endpoints are and what they accept,
    so an OAuth library can configure itself from this server's address alone."""
    base = issuer()
    methods = ["client_secret_basic", "client_secret_post", "none"]
    return jsonify(
        {
            "issuer": base,
            "authorization_endpoint": base + url_for("web.oauth_authorize"),
            "token_endpoint": base + "/oauth/token",
            "revocation_endpoint": base + "/oauth/revoke",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            "scopes_supported": sorted(
                f"{name}:{action}" for name, entry in resources().items() for action in entry["actions"]
            ),
            "authorization_response_iss_parameter_supported": True,
            "service_documentation": base + "/api/v1/docs",
        }
    )
