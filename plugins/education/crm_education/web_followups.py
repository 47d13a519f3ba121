"""The follow-up queue (跟进记录) and the shared pool (公海): ``/education/followups``.

The viewer's own leads, those due for contact first (their latest note's next contact is today
or earlier, overdue ones highlighted), then the others with the day each would return to the
pool; a form adding a note with the next contact's time (school time); and, for viewers granted
``education.pool:read``, the pool's leads with a claim button. Notes are created through the
write path like ``POST /followups``; a claim is :func:`crm_education.followups.claim`, the code
behind ``POST /pool/<id>/claim``.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw
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
    department_names,
    login_required,
    require,
    scoped,
    utcnow,
    web_actor,
    write_transaction,
)

from . import followups, sessions, settings
from .models import FOLLOW_UP_CHANNELS, FollowUp
from .schemas import EducationFollowUpSchema
from .web import blp, local
from .web_trials import _refused

RESOURCE = "education.followups"
CHANNEL_LABELS = {
    "phone": lazy_pgettext("education", "Phone"),
    "wechat": _l("WeChat"),
    "visit": lazy_pgettext("education", "Visit"),
    "sms": _l("SMS"),
    "other": _l("Other"),
}


def _latest_notes(customer_ids) -> dict[int, FollowUp]:
    ids = list(customer_ids)
    if not ids:
        return {}
    latest = (
        FollowUp.select(FollowUp.customer_id, pw.fn.MAX(FollowUp.id))
        .where(FollowUp.customer_id.in_(ids))
        .group_by(FollowUp.customer_id)
    )
    wanted = [row[1] for row in latest.tuples()]
    return {n.customer_id: n for n in FollowUp.select().where(FollowUp.id.in_(wanted))}


def queue(actor, now: dt.datetime) -> tuple[list[dict], list[dict]]:
    """The viewer's leads as ``(due, later)``: each ``{lead, note, next, overdue, pool_on}``;
    due (next contact today or earlier, school time) soonest first, the rest by pool day."""
    leads = list(
        scoped(
            Customer.select(Customer.id, Customer.name, Customer.created_at).where(
                Customer.lifecycle_stage == "lead", Customer.owner_id == actor.id
            ),
            actor,
            "customers",
        ).limit(500)
    )
    notes = _latest_notes(c.id for c in leads)
    end_of_today = sessions.to_utc(local(now).date() + dt.timedelta(days=1), dt.time())
    days = settings.get("POOL_DAYS")
    due, later = [], []
    for lead in leads:
        note = notes.get(lead.id)
        touched = note.created_at if note else lead.created_at
        row = {
            "lead": lead,
            "note": note,
            "next": local(note.next_contact_at) if note and note.next_contact_at else None,
            "overdue": bool(note and note.next_contact_at and note.next_contact_at < now),
            "pool_on": (local(touched) + dt.timedelta(days=days)).date() if days > 0 else None,
        }
        if note and note.next_contact_at and note.next_contact_at < end_of_today:
            due.append(row)
        else:
            later.append(row)
    due.sort(key=lambda r: r["note"].next_contact_at)
    later.sort(key=lambda r: (r["pool_on"] is None, r["pool_on"] or dt.date.max))
    return due, later


@blp.route("/followups")
@login_required
def followups_page():
    """My follow-up queue, the note form and the shared pool."""
    actor = web_actor()
    require(actor, RESOURCE, "read")
    now = utcnow()
    due, later = queue(actor, now)
    pool = []
    if can(actor, followups.POOL, "read"):
        pool = list(
            scoped(followups.pool_leads(Customer.select()), actor, followups.POOL, model=Customer)
            .order_by(Customer.id)
            .limit(200)
        )
    last = followups.last_contacts(c.id for c in pool) if pool else {}
    return render_template(
        "education/followups.html",
        due_rows=due,
        later_rows=later,
        pool=pool,
        pool_last={cid: local(at) for cid, at in last.items()},
        campuses=department_names(c.department_id for c in pool),
        channels=CHANNEL_LABELS,
        channel_values=FOLLOW_UP_CHANNELS,
        may_note=can(actor, RESOURCE, "create"),
        may_claim=can(actor, followups.POOL, "claim"),
        pool_days=settings.get("POOL_DAYS"),
        default_next=(local(now) + dt.timedelta(days=1)).strftime("%Y-%m-%dT10:00"),
    )


@blp.route("/followups/note", methods=["POST"])
@login_required
def add_followup():
    """A follow-up note with the next contact's time (school time), as ``POST /followups``."""
    actor = web_actor()
    form = request.form
    next_at = None
    try:
        if form.get("next_contact_at"):
            try:
                moment = dt.datetime.fromisoformat(form["next_contact_at"])
            except ValueError:
                raise APIError(
                    422,
                    _("The next contact is a date and time."),
                    errors={"next_contact_at": [_("Not a time.")]},
                ) from None
            next_at = sessions.to_utc(moment.date(), moment.time())
        try:
            data = EducationFollowUpSchema().load(
                {
                    "customer_id": form.get("customer_id", ""),
                    "channel": form.get("channel", "phone"),
                    "content": form.get("content", "").strip(),
                    "intention": form.get("intention", ""),
                }
            )
        except ValidationError as exc:
            raise APIError(422, _("Check the note."), errors=exc.messages) from None
        data["next_contact_at"] = next_at
        with write_transaction():
            create_record(RESOURCE, FollowUp, data, actor)
        flash(_("Follow-up saved."), "success")
    except APIError as exc:
        _refused(exc)
    return redirect(url_for("education_web.followups_page"))


@blp.route("/pool/<int:customer_id>/claim", methods=["POST"])
@login_required
def claim_lead(customer_id):
    """Claim a lead of the pool (the viewer becomes its consultant)."""
    try:
        followups.claim(customer_id, web_actor())
        flash(_("The lead is yours now."), "success")
    except APIError as exc:
        _refused(exc)
    return redirect(url_for("education_web.followups_page"))
