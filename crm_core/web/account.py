"""Login, logout, change password and language: the pages every user sees first."""

from __future__ import annotations

from flask import abort, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import refresh

from ..auth import login as password_login
from ..auth import record_change, set_password
from ..auth.models import User
from ..auth.passwords import policy_errors, verify_password
from ..auth.ratelimit import login_attempt
from ..db import database, utcnow
from ..errors import APIError
from .blueprint import bp
from .i18n import LANGUAGES
from .session import end_session, login_required, safe_next, start_session


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; on success start a session and go where the user wanted to go.

    Uses the API's password login, so failed attempts count towards the same lockout.
    """
    target = safe_next(request.values.get("next")) or url_for("web.dashboard")
    if g.get("web_user") is not None and request.method == "GET":
        return redirect(target)
    if request.method == "GET":
        return render_template("crm/login.html", error=None, username="", next=target)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    try:
        # the same per-IP limit on failed logins as the API's /auth/token
        with login_attempt():
            if not username or not password:
                raise APIError(401, "Wrong username or password.")
            user = password_login(username, password)
    except APIError as exc:
        if exc.code not in (401, 429):
            raise
        error = _("Too many failed logins; try again later.") if exc.code == 429 else None
        error = error or _("Wrong username or password.")
        page = render_template("crm/login.html", error=error, username=username, next=target)
        return page, exc.code, exc.data.get("headers") or {}
    start_session(user)
    return redirect(target)


@bp.route("/logout", methods=["POST"])
def logout():
    """End the session (POST only, CSRF-protected, so a link on another site cannot log you out)."""
    end_session()
    return redirect(url_for("web.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password: checks the current one and the policy, then revokes API tokens."""
    errors: dict[str, list[str]] = {}
    done = False
    if request.method == "POST":
        user = g.web_user
        current = request.form.get("current_password", "")
        new = request.form.get("new_password", "")
        confirm = request.form.get("confirm_password", "")
        if not verify_password(user.password_hash, current):
            errors["current_password"] = [_("The current password is not correct.")]
        problems = policy_errors(new)
        if problems:
            errors["new_password"] = [_(p) for p in problems]
        elif new != confirm:
            errors["confirm_password"] = [_("The two new passwords differ.")]
        if not errors:
            set_password(user, new)  # revokes every API token of the user too
            start_session(User.get_by_id(user.id))
            done = True
    status = 422 if errors else 200
    return render_template("crm/password.html", errors=errors, done=done), status


@bp.route("/language", methods=["POST"])
def set_language():
    """Switch the language: saved on the user when logged in, in the session otherwise."""
    language = request.form.get("language", "")
    if language not in LANGUAGES:
        abort(400, description=_("Unknown language."))
    session["lang"] = language
    user = g.get("web_user")
    if user is not None and user.language != language:
        with database.atomic():  # a write to the user: audited like the API's PATCH
            User.update(language=language, updated_at=utcnow()).where(User.id == user.id).execute()
            record_change("update", "users", user.id, {"language": user.language}, {"language": language})
        user.language = language
    refresh()  # this request's cached locale is stale now
    return redirect(safe_next(request.form.get("next")) or url_for("web.dashboard"))
