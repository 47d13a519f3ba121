"""The school's workbench screens (``crm_web_blueprints``, ``crm_nav``), on the core's public web
API (``login_required``, ``web_actor``, the permission functions, ``crm/base.html``):

- ``/education/timetable``: a week of sessions by room or by teacher, in the school's time zone;
- ``/education/sessions/<id>``: the class roster with the roll-call form (点名);
- ``/education/students/<customer id>``: a student's packages and hours ledger.

Everything read is bounded by the viewer's row scope and field rules (a teacher sees their own
sessions and no fees), and roll call goes through :func:`crm_education.rollcall.roll_call`, the
code behind the API, so a refusal (not enough hours) is shown as the API words it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext  # by its own name: the catalogue extractor knows no alias

from crm_core.plugin_api import (
    APIError,
    Customer,
    can,
    field_rules,
    get_record,
    login_required,
    require,
    scoped,
    user_names,
    view,
    web_actor,
    write_transaction,
)

from . import hours, rollcall, settings
from .models import ATTENDANCE_STATUSES, HourEntry, Klass, Package, Room, Session

blp = Blueprint(
    "education_web", __name__, url_prefix="/education", template_folder="templates", static_folder="static"
)

STATUS_LABELS = {"present": _l("Present"), "absent": _l("Absent"), "leave": _l("On leave")}
KIND_LABELS = {
    "purchase": lazy_pgettext("education", "Purchase"),
    "consume": _l("Lesson"),
    "reverse": _l("Correction"),
    "transfer_in": _l("Transfer in"),
    "transfer_out": _l("Transfer out"),
    "refund": _l("Refund"),
}


def local(instant: dt.datetime) -> dt.datetime:
    """A naive UTC instant in the school's time zone."""
    return instant.replace(tzinfo=dt.UTC).astimezone(settings.timezone())


def fixed(value) -> str:
    """A Decimal (hours, money) with two places, as the API writes it."""
    return str(Decimal(value).quantize(hours.CENT))


@blp.app_context_processor
def _education_context():
    # the number format every education page uses
    return {"education_fixed": fixed}


def names_of(actor, ids) -> dict[int, str]:
    """``{customer id: name}`` of the customers the viewer may read (names hidden: none)."""
    seen = view(actor, "customers", "read")
    ids = [i for i in set(ids) if i is not None]
    if not ids or not seen.allowed or "name" in seen.hidden:
        return {}
    query = Customer.select(Customer.id, Customer.name).where(Customer.id.in_(ids))
    return dict(seen.apply(query, Customer).tuples())


def week_of(value: str | None) -> dt.date:
    """The Monday of the week holding ``value`` (an ISO date; default: today, school time)."""
    try:
        day = (
            dt.date.fromisoformat(value)
            if value
            else local(dt.datetime.now(dt.UTC).replace(tzinfo=None)).date()
        )
    except ValueError:
        raise APIError(400, _("Dates are YYYY-MM-DD."), errors={"week": [_("Not a date.")]}) from None
    return day - dt.timedelta(days=day.weekday())


@blp.route("/timetable")
@login_required
def timetable():
    """A week of sessions, rows by room (or teacher), a column per day."""
    actor = web_actor()
    require(actor, "education.sessions", "read")
    monday = week_of(request.args.get("week"))
    by = "teacher" if request.args.get("by") == "teacher" else "room"
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    query = scoped(
        Session.select(Session, Klass).join(Klass).where(Session.day >= days[0], Session.day <= days[-1]),
        actor,
        "education.sessions",
        model=Session,
    ).order_by(Session.starts_at)
    grid: dict = {}
    for s in query:
        key = s.room_id if by == "room" else s.teacher_id
        grid.setdefault(key, {}).setdefault(s.day, []).append(
            {"session": s, "starts": local(s.starts_at), "ends": local(s.ends_at)}
        )
    keys = [k for k in grid if k]
    if by == "room":
        labels = {r.id: r.name for r in Room.select(Room.id, Room.name).where(Room.id.in_(keys))}
    else:
        labels = user_names(keys)
    rows = [
        {
            "key": key,
            "label": (labels.get(key) or _("Teacher %(id)s", id=key)) if key else _("None"),
        }
        for key in sorted(grid, key=lambda k: (k is None, k or 0))
    ]
    return render_template(
        "education/timetable.html",
        days=days,
        rows=rows,
        grid=grid,
        by=by,
        previous=(monday - dt.timedelta(days=7)).isoformat(),
        following=(monday + dt.timedelta(days=7)).isoformat(),
        monday=monday,
    )


@blp.route("/sessions/<int:session_id>", methods=["GET", "POST"])
@login_required
def session_page(session_id):
    """The roster of a session and its roll call."""
    actor = web_actor()
    session = get_record(Session, session_id, actor, "education.sessions")
    error = None
    if request.method == "POST":
        marks = [
            {"customer_id": int(key.removeprefix("mark-")), "status": value}
            for key, value in request.form.items()
            if key.startswith("mark-") and value in ATTENDANCE_STATUSES
        ]
        try:
            with write_transaction():
                locked = get_record(Session, session_id, actor, "education.sessions", "roll_call", lock=True)
                rollcall.roll_call(locked, marks, actor)
            flash(_("Roll call saved."), "success")
            return redirect(url_for("education_web.session_page", session_id=session_id))
        except APIError as exc:
            error = exc.message
    roster = rollcall.roster(session)
    return render_template(
        "education/session.html",
        session=session,
        klass=session.klass,
        starts=local(session.starts_at),
        ends=local(session.ends_at),
        roster=roster,
        teacher=user_names([session.teacher_id]).get(session.teacher_id),
        names=names_of(actor, [r["customer_id"] for r in roster]),
        statuses=STATUS_LABELS,
        error=error,
        can_call=session.status != "cancelled" and can(actor, "education.sessions", "roll_call", session),
    ), (409 if error else 200)


@blp.route("/students/<int:customer_id>")
@login_required
def student_page(customer_id):
    """A student's packages with their balances and hours ledgers."""
    actor = web_actor()
    require(actor, "education.packages", "read")
    packages = list(
        scoped(
            Package.select().where(Package.customer_id == customer_id), actor, "education.packages"
        ).order_by(Package.id)
    )
    left = hours.balances(p.id for p in packages)
    ledgers: dict[int, list] = {p.id: [] for p in packages}
    if packages and can(actor, "education.hours", "read"):
        for entry in HourEntry.select().where(HourEntry.package.in_(list(ledgers))).order_by(HourEntry.id):
            ledgers[entry.package_id].append(entry)
    hidden_price = field_rules(actor, "education.packages").get("price") == "hidden"
    hidden_amount = field_rules(actor, "education.hours").get("amount") == "hidden"
    name = names_of(actor, [customer_id]).get(customer_id)
    return render_template(
        "education/student.html",
        customer_id=customer_id,
        name=name,
        packages=packages,
        left=left,
        ledgers=ledgers,
        kinds=KIND_LABELS,
        hidden_price=hidden_price,
        hidden_amount=hidden_amount,
        total=sum(left.values()) if left else 0,
    )


NAV = [
    {
        "label": _l("Timetable"),
        "endpoint": "education_web.timetable",
        "permission": "education.sessions:read",
        "order": 65,
    },
    {
        "label": _l("Trial lessons"),
        "endpoint": "education_web.trials_page",
        "permission": "education.trials:read",
        "order": 66,
    },
    {
        "label": _l("Follow-ups"),
        "endpoint": "education_web.followups_page",
        "permission": "education.followups:read",
        "order": 67,
    },
    {
        "label": _l("School metrics"),
        "endpoint": "education_web.metrics_page",
        "permission": "education.metrics:read",
        "order": 68,
    },
]
