"""The trial-bookings screen (试听): ``/education/trials``.

A list of the trials the viewer may read (filtered by status), a form booking a lead the three
ways (into a class session, a one-off trial slot, a request the front desk schedules later) or
putting them in a full session's waiting list, and per trial the next steps: schedule a request,
attended or no-show, the consultant's feedback, conversion to an enrolment, revocation. Offers of
the waiting lists are accepted or declined here too.

Every write goes through the code behind the API (``trials``, ``waitlist``, the write path's
``create_record``) in one write transaction with the record locked and the same permission
action as the API's, and is audited the same way; a refusal is shown in the API's words.
"""

from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext  # by its own name: the catalogue extractor knows no alias
from marshmallow import ValidationError

from crm_core.plugin_api import (
    APIError,
    Customer,
    can,
    create_record,
    get_record,
    login_required,
    record_dict,
    record_written,
    require,
    scoped,
    user_names,
    users_with_role,
    utcnow,
    web_actor,
    write_transaction,
)

from . import scheduling, sessions, settings, trials, waitlist
from .models import TRIAL_KINDS, TRIAL_STATUSES, Course, Klass, Room, Session, Trial, WaitlistEntry
from .schemas import EducationFeedbackSchema
from .web import blp, local, names_of

TRIAL_STATUS_LABELS = {
    "requested": _l("Requested"),
    "booked": _l("Booked"),
    "attended": _l("Attended"),
    "no_show": _l("No-show"),
    "revoked": _l("Revoked"),
    "converted": _l("Enrolled"),
}
TRIAL_KIND_LABELS = {
    "class_session": _l("Into a class session"),
    "trial_slot": _l("A one-off trial slot"),
    "request": _l("A request to schedule"),
}
WAIT_STATUS_LABELS = {"waiting": lazy_pgettext("education", "Waiting"), "offered": _l("Seat offered")}


def _refused(exc: APIError) -> None:
    """Flash a refusal as the API words it (with the per-field messages of invalid input)."""
    details = []
    if exc.code == 422:
        for messages in (exc.data.get("errors") or {}).values():
            details += [str(m) for m in (messages if isinstance(messages, list) else [messages])]
    flash(" ".join([exc.message, *details]), "error")


def act(model, resource: str, record_id: int, permission: str, change, audit: str | None = None):
    """Run ``change(record)`` as the API's actions do: locked, with ``permission`` on the record,
    in one write transaction, the change written and audited as ``audit`` (None: ``change``
    reports itself)."""
    actor = web_actor()
    with write_transaction():
        record = get_record(model, record_id, actor, resource, permission, lock=True)
        before = record_dict(record)
        change(record, actor)
        if audit:
            record.updated_at = utcnow()
            record.save()
            record_written(audit, resource, record, actor, before, record_dict(record))
    return record


def _local_instant(day: str, at: str) -> dt.datetime | None:
    try:
        return sessions.to_utc(dt.date.fromisoformat(day), dt.time.fromisoformat(at))
    except ValueError:
        return None


def _int(name: str) -> int | None:
    value = request.form.get(name, "").strip()
    return int(value) if value.isdigit() else None


def _options(actor) -> dict:
    """What the booking and conversion forms offer: the viewer's leads, the coming sessions with
    their free seats, courses, teachers (by name), rooms and classes."""
    now = utcnow()
    leads = list(
        scoped(
            Customer.select(Customer.id, Customer.name).where(Customer.lifecycle_stage == "lead"),
            actor,
            "customers",
        )
        .order_by(Customer.id.desc())
        .limit(200)
    )
    coming = list(
        scoped(
            Session.select(Session, Klass)
            .join(Klass)
            .where(
                Session.status == "scheduled",
                Session.starts_at > now,
                Session.starts_at < now + dt.timedelta(days=28),
                Klass.is_trial == False,  # noqa: E712  (peewee's SQL equality)
            ),
            actor,
            "education.sessions",
            model=Session,
        )
        .order_by(Session.starts_at)
        .limit(60)
    )
    slots = [
        {
            "session": s,
            "starts": local(s.starts_at),
            "free": scheduling.capacity_of(s.klass) - scheduling.seats_taken(s.klass, s.id),
        }
        for s in coming
    ]
    teachers = user_names(users_with_role(settings.get("TEACHER_ROLE")))
    classes = list(
        scoped(Klass.select().where(Klass.is_trial == False), actor, "education.classes")  # noqa: E712
        .order_by(Klass.name)
        .limit(200)
    )
    return {
        "leads": leads,
        "slots": slots,
        "courses": list(Course.select().where(Course.active == True).order_by(Course.name)),  # noqa: E712
        "teachers": sorted(teachers.items(), key=lambda kv: kv[1]),
        "rooms": list(Room.select().order_by(Room.name)),
        "classes": classes,
    }


@blp.route("/trials")
@login_required
def trials_page():
    """Trial bookings: the list by status, the booking form, the waiting lists' open entries."""
    actor = web_actor()
    require(actor, trials.RESOURCE, "read")
    status = request.args.get("status", "")
    query = scoped(Trial.select(), actor, trials.RESOURCE)
    if status in TRIAL_STATUSES:
        query = query.where(Trial.status == status)
    rows = list(query.order_by(Trial.id.desc()).limit(200))
    booked = {
        s.id: s
        for s in Session.select(Session, Klass)
        .join(Klass)
        .where(Session.id.in_([t.session_id for t in rows if t.session_id]))
    }
    waiting = []
    if can(actor, waitlist.RESOURCE, "read"):
        waiting = list(
            scoped(
                WaitlistEntry.select().where(WaitlistEntry.status.in_(waitlist.OPEN)),
                actor,
                waitlist.RESOURCE,
            )
            .order_by(WaitlistEntry.id)
            .limit(200)
        )
        waitlist.with_positions(waiting)
    wait_classes = {k.id: k for k in Klass.select().where(Klass.id.in_([w.class_id for w in waiting]))}
    wait_sessions = {
        s.id: local(s.starts_at)
        for s in Session.select().where(Session.id.in_([w.session_id for w in waiting if w.session_id]))
    }
    customers = [t.customer_id for t in rows] + [w.customer_id for w in waiting]
    return render_template(
        "education/trials.html",
        trials=rows,
        status=status,
        statuses=TRIAL_STATUS_LABELS,
        kinds=TRIAL_KIND_LABELS,
        trial_kinds=TRIAL_KINDS,
        booked={sid: {"session": s, "starts": local(s.starts_at)} for sid, s in booked.items()},
        names=names_of(actor, customers),
        consultants=user_names(t.owner_id for t in rows),
        waiting=waiting,
        wait_statuses=WAIT_STATUS_LABELS,
        wait_classes=wait_classes,
        wait_sessions=wait_sessions,
        may={
            op: can(actor, trials.RESOURCE, op)
            for op in ("create", "schedule", "attend", "feedback", "convert", "revoke")
        }
        | {f"wait_{op}": can(actor, waitlist.RESOURCE, op) for op in ("create", "accept", "decline")},
        today=local(utcnow()).date().isoformat(),
        **_options(actor),
    )


def _back():
    return redirect(url_for("education_web.trials_page", status=request.args.get("status", "")))


@blp.route("/trials/book", methods=["POST"])
@login_required
def book_trial():
    """Book a lead (or, with ``waitlist``, put them in a full session's waiting list)."""
    actor = web_actor()
    form = request.form
    kind = form.get("kind", "")
    data = {"customer_id": _int("customer_id"), "kind": kind}
    try:
        if not data["customer_id"]:
            raise APIError(422, _("Choose a lead."), errors={"customer_id": [_("Required.")]})
        if kind not in TRIAL_KINDS:
            raise APIError(422, _("Choose how to book."), errors={"kind": [_("Unknown.")]})
        if form.get("waitlist"):
            session = Session.get_or_none(Session.id == _int("session_id"))
            if session is None:
                raise APIError(422, _("Choose a session."), errors={"session_id": [_("Required.")]})
            body = {
                "customer_id": data["customer_id"],
                "class_id": session.class_id,
                "session_id": session.id,
            }
            with write_transaction():
                waitlist.join(body, actor)
            flash(_("Added to the waiting list."), "success")
            return _back()
        if kind == "class_session":
            data["session_id"] = _int("session_id")
        elif kind == "trial_slot":
            data |= {
                "course_id": _int("course_id"),
                "teacher_id": _int("teacher_id"),
                "room_id": _int("room_id"),
                "starts_at": _local_instant(form.get("day", ""), form.get("start", "")),
                "ends_at": _local_instant(form.get("day", ""), form.get("end", "")),
            }
        else:
            data |= {"course_id": _int("course_id"), "preferred": form.get("preferred", "")[:500]}
        with write_transaction():
            create_record(
                trials.RESOURCE,
                Trial,
                {**data, "_actor": actor},
                actor,
                before_save=trials.prepare_trial,
                after_save=trials.after_create,
            )
        flash(_("Trial booked.") if kind != "request" else _("Trial request saved."), "success")
    except APIError as exc:
        _refused(exc)
    return _back()


def _feedback(record, actor):
    try:
        data = EducationFeedbackSchema().load(
            {"feedback": request.form.get("feedback", ""), "rating": _int("rating")}
        )
    except ValidationError as exc:
        raise APIError(422, _("Write the feedback."), errors=exc.messages) from None
    record.feedback, record.rating = data["feedback"], data.get("rating")


OPERATIONS = {
    # name: (permission, change(record, actor), audit action or None when the change audits itself)
    "schedule": ("schedule", lambda r, a: trials.schedule(r, _int("session_id"), a), "schedule"),
    "attend": ("attend", lambda r, a: trials.mark_attendance(r, True, a), None),
    "no_show": ("attend", lambda r, a: trials.mark_attendance(r, False, a), None),
    "feedback": ("feedback", _feedback, "feedback"),
    "convert": ("convert", lambda r, a: trials.convert(r, _int("class_id"), a), "convert"),
    "revoke": ("revoke", trials.revoke, "revoke"),
}


@blp.route(
    "/trials/<int:trial_id>/<any(schedule, attend, no_show, feedback, convert, revoke):op>", methods=["POST"]
)
@login_required
def trial_step(trial_id, op):
    """One step of a trial, as its API action does it."""
    permission, change, audit = OPERATIONS[op]
    try:
        act(Trial, trials.RESOURCE, trial_id, permission, change, audit)
        flash(_("Saved."), "success")
    except APIError as exc:
        _refused(exc)
    return _back()


@blp.route("/waitlist/<int:entry_id>/<any(accept, decline):op>", methods=["POST"])
@login_required
def waitlist_step(entry_id, op):
    """Accept an offered seat (the booking is made) or leave the line."""

    def change(record, actor):
        if op == "accept":
            waitlist.accept(record, actor)
        else:
            waitlist.release(record, "cancelled" if record.status == "waiting" else "declined", actor)

    try:
        act(WaitlistEntry, waitlist.RESOURCE, entry_id, op, change, op)
        flash(_("Saved."), "success")
    except APIError as exc:
        _refused(exc)
    return _back()
