"""Third-party OAuth2 apps in the workbench: administrators register them
(``/admin/oauth-apps``), and every user sees and withdraws the apps they authorized
(``/account/apps``).

Registration goes through ``crm_core.directory.clients.create_client`` like the API's
``POST /api/v1/oauth-clients`` (the same checks and 422 messages, the same audit entry); the
client secret is shown once, on the page that answers the registration, and stored hashed.
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import audit
from ..api.tokens import client_dict
from ..auth import record_change
from ..auth.models import OAuthClient
from ..auth.oauth import revoke_client
from ..auth.oauth_grants import authorized_apps, revoke_app_for_user
from ..db import database
from ..directory.clients import AUTHORIZATION_CODE, create_client
from ..errors import APIError
from .admin import may, need
from .blueprint import bp
from .messages import translate_errors
from .oauth_consent import scope_label
from .session import login_required


def _apps():
    return list(OAuthClient.select().order_by(OAuthClient.revoked_at.is_null(False), OAuthClient.name))


def _admin_page(form=None, errors=None, created=None, secret=None, status=200):
    page = render_template(
        "crm/admin/oauth_apps.html",
        clients=_apps(),
        form=form or {"name": "", "redirect_uris": "", "scopes": "", "client_type": "confidential"},
        errors=errors or {},
        created=created,
        secret=secret,
        can_create=may(g.actor, "oauth_clients:create"),
        can_delete=may(g.actor, "oauth_clients:delete"),
    )
    return page, status


@bp.route("/admin/oauth-apps", methods=["GET", "POST"])
@login_required
def admin_oauth_apps():
    """Registered apps and integrations; the form registers a new app (POST)."""
    need("oauth_clients:read")
    if request.method == "GET":
        return _admin_page()
    need("oauth_clients:create")
    form = {
        "name": request.form.get("name", ""),
        "redirect_uris": request.form.get("redirect_uris", ""),
        "scopes": request.form.get("scopes", ""),
        "client_type": request.form.get("client_type", "confidential"),
    }
    try:
        with database.atomic():
            row, secret = create_client(
                form["name"],
                None,
                form["scopes"].split(),
                created_by=g.actor.id,
                grant_type=AUTHORIZATION_CODE,
                redirect_uris=form["redirect_uris"].split(),
                public=form["client_type"] == "public",
            )
            record_change("create", "oauth_clients", row.id, None, client_dict(row))
    except APIError as exc:
        if exc.code != 422:
            raise
        return _admin_page(form=form, errors=translate_errors(exc.data.get("errors") or {}), status=422)
    return _admin_page(created=row, secret=secret, status=201)


@bp.route("/admin/oauth-apps/<int:client_pk>/revoke", methods=["POST"])
@login_required
def admin_revoke_oauth_app(client_pk: int):
    """Remove an app or integration for everyone: it and all its tokens are revoked."""
    need("oauth_clients:delete")
    row = OAuthClient.get_or_none(OAuthClient.id == client_pk)
    if row is None:
        raise APIError(404, _("No such app."))
    with database.atomic():
        before = client_dict(row)
        revoke_client(row)
        record_change("delete", "oauth_clients", row.id, before, None)
    return redirect(url_for("web.admin_oauth_apps"))


@bp.route("/account/apps")
@login_required
def account_apps():
    """The apps the user authorized: what each may do, since when, when last used."""
    apps = authorized_apps(g.web_user)
    for app in apps:
        app["labels"] = [(s, scope_label(s)) for s in app["scopes"]]
    return render_template("crm/oauth/apps.html", apps=apps, revoked=request.args.get("revoked"))


@bp.route("/account/apps/<int:client_pk>/revoke", methods=["POST"])
@login_required
def account_revoke_app(client_pk: int):
    """Withdraw one's own authorization of an app (its tokens for this user stop working)."""
    row = OAuthClient.get_or_none(OAuthClient.id == client_pk)
    if row is None:
        raise APIError(404, _("No such app."))
    with database.atomic():
        count = revoke_app_for_user(g.web_user, row)
        audit.record_event(
            g.web_user,
            "oauth_revoke",
            "oauth_clients",
            record_id=row.id,
            extra={"reason": "withdrawn by the user", "client_id": row.client_id, "revoked": count},
        )
    return redirect(url_for("web.account_apps", revoked=row.name))
