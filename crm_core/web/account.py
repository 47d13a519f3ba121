"""Login, logout, the account page (password, time zone) and language: what every user sees first."""

from __future__ import annotations

from flask import abort, current_app, g, redirect, render_template, request, session, url_for
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
from .formatting import current_timezone, timezone_label
from .i18n import LANGUAGES, valid_timezone
from .messages import translate_message
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
            errors["new_password"] = [translate_message(p) for p in problems]
        elif new != confirm:
            errors["confirm_password"] = [_("The two new passwords differ.")]
        if not errors:
            set_password(user, new)  # revokes every API token of the user too
            start_session(User.get_by_id(user.id))
            done = True
    status = 422 if errors else 200
    return _account_page(errors=errors, done=done), status


#: the zones offered first on the account page (any other IANA name is accepted too)
COMMON_TIMEZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Bangkok",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "UTC",
)


def timezone_choices(*also: str | None) -> list[tuple[str, str]]:
    """``[(IANA name, label in the page's language)]`` for the time zone select."""
    names = list(COMMON_TIMEZONES) + [z for z in also if z and z not in COMMON_TIMEZONES]
    return [(name, timezone_label(name)) for name in names]


def _account_page(errors=None, done=False, zone_errors=None, zone_saved=False) -> str:
    instance_zone = current_app.config.get("TIMEZONE") or "UTC"
    return render_template(
        "crm/password.html",
        errors=errors or {},
        done=done,
        zone_errors=zone_errors or {},
        zone_saved=zone_saved,
        timezones=timezone_choices(g.web_user.timezone, instance_zone),
        user_timezone=g.web_user.timezone or "",
        instance_timezone=timezone_label(instance_zone),
        shown_timezone=current_timezone(),
    )


@bp.route("/account/timezone", methods=["POST"])
@login_required
def set_timezone():
    """Save the user's time zone (empty: follow the instance's ``TIMEZONE``); audited."""
    user = g.web_user
    zone = request.form.get("timezone", "").strip() or None
    if zone is not None and not valid_timezone(zone):
        errors = {"timezone": [_("Unknown time zone %(zone)s.", zone=zone)]}
        return _account_page(zone_errors=errors), 422
    if zone != user.timezone:
        with database.atomic():
            User.update(timezone=zone, updated_at=utcnow()).where(User.id == user.id).execute()
            record_change("update", "users", user.id, {"timezone": user.timezone}, {"timezone": zone})
        user.timezone = zone
        refresh()  # this request's cached zone is stale now
    return _account_page(zone_saved=True)


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
