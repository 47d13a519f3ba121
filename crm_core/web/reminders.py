"""Due-task reminders: the current user's open activities (tasks, calls, meetings...) due by the
end of today or overdue, as a count badge in the top bar and a reminders page where each one can
be marked done.

"Yours" is what you own (``owner_id``), read within your ``activities:read`` scope through
``crm_core.permissions``; "today" ends at midnight in your time zone (Flask-Babel's). Marking
done goes through ``crm_core.records.service`` with the activities collection's own hooks, so it
is checked against your update scope and audited like an API write.
"""

from __future__ import annotations

import datetime as dt

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import format_datetime, get_timezone, to_utc
from flask_babel import gettext as _

from .. import permissions
from ..db import database, utcnow
from ..entities.models import Activity
from ..errors import APIError
from ..records import service
from .blueprint import bp
from .registry import cruds, get_resource
from .session import login_required, web_actor

#: Most reminders listed on the page (the oldest first).
PAGE_LIMIT = 200


def end_of_today() -> dt.datetime:
    """Midnight at the end of the user's today, as a naive UTC time (how the database stores it)."""
    zone = get_timezone()
    local_now = dt.datetime.now(dt.UTC).astimezone(zone).replace(tzinfo=None)
    tomorrow = dt.datetime.combine(local_now.date() + dt.timedelta(days=1), dt.time())
    return to_utc(tomorrow).replace(tzinfo=None)


def due_query(actor):
    """The actor's open activities due before the end of today, within their read scope; None
    when they may not read activities."""
    if actor is None or "activities" not in cruds() or not permissions.can(actor, "activities", "read"):
        return None
    query = Activity.select().where(
        Activity.owner_id == actor.id,
        Activity.done == False,  # noqa: E712  (peewee expression)
        Activity.due_at.is_null(False),
        Activity.due_at < end_of_today(),
    )
    return permissions.scoped(query, actor, "activities", "read", model=Activity)


_UNSET = object()


@bp.app_template_global("reminder_count")
def reminder_count() -> int | None:
    """How many reminders the top bar's badge shows; None for visitors and for users who do not
    read activities (no bell at all). Counted once per request."""
    # kept in the request's environ: ``g`` outlives a request when an app context is pushed
    cached = request.environ.get("crm.reminder_count", _UNSET)
    if cached is _UNSET:
        query = due_query(web_actor())
        cached = query.order_by().count() if query is not None else None
        request.environ["crm.reminder_count"] = cached
    return cached


def due_items(actor, limit: int = PAGE_LIMIT) -> list[dict]:
    """The actor's reminders, the oldest first: ``[{"id", "data" (masked), "overdue", "due",
    "can_update"}]``; empty when they may not read activities."""
    query = due_query(actor)
    if query is None:
        return []
    rows = list(query.order_by(Activity.due_at, Activity.id).limit(limit))
    if not rows:
        return []
    now = utcnow()
    dumped = get_resource("activities").crud.dump(rows, actor)
    return [
        {
            "id": row.id,
            "data": data,
            "overdue": row.due_at < now,
            "due": format_datetime(row.due_at, "short"),
            "can_update": permissions.can(actor, "activities", "update", row),
        }
        for row, data in zip(rows, dumped, strict=True)
    ]


@bp.app_template_global("dashboard_reminders")
def dashboard_reminders(limit: int = 5) -> list[dict]:
    """The first reminders of the current user, for the dashboard panel."""
    return due_items(web_actor(), limit)


@bp.route("/reminders")
@login_required
def reminders():
    """Your overdue and due-today activities, the oldest first, each with a "done" button."""
    actor = g.actor
    if due_query(actor) is None:
        raise APIError(403, _("You may not use this page."))
    items = due_items(actor)
    return render_template(
        "crm/reminders.html",
        overdue=[i for i in items if i["overdue"]],
        today=[i for i in items if not i["overdue"]],
    )


@bp.route("/reminders/<int:activity_id>/done", methods=["POST"])
@login_required
def reminder_done(activity_id):
    """Mark one activity done (``activities:update`` on it) and go back to the reminders."""
    actor = g.actor
    res = get_resource("activities")
    with database.atomic():
        record = res.crud.get(activity_id, actor, "update")
        service.update("activities", record, {"done": True}, actor, **res.crud.write_options)
    flash(_("Marked done."), "success")
    back = request.form.get("back", "")
    if back == "dashboard":
        return redirect(url_for("web.dashboard"))
    return redirect(url_for("web.reminders"))
