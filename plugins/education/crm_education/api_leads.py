"""Leads' side of the API: trial lessons, follow-ups and the funnel and school metrics.

Resources: ``education.trials`` (row-scoped by consultant and campus; actions ``schedule``,
``attend``, ``feedback``, ``convert``, ``revoke``), ``education.followups`` and
``education.metrics`` (``read``).
"""

from __future__ import annotations

import datetime as dt

from flask import request
from flask_babel import gettext as _

from crm_core.plugin_api import (
    APIError,
    CrudView,
    Customer,
    action,
    current_actor,
    json_response,
    register_crud,
    require,
    scoped,
    utcnow,
)

from . import followups, metrics, trials
from .api import blp
from .models import FollowUp, Trial
from .report_schemas import (
    EducationClaimSchema,
    EducationFunnelSchema,
    EducationPoolLeadSchema,
    EducationSchoolSchema,
)
from .schemas import (
    EducationAttendSchema,
    EducationConvertSchema,
    EducationFeedbackSchema,
    EducationFollowUpSchema,
    EducationScheduleSchema,
    EducationTrialSchema,
)


class Trials(CrudView):
    """Trial lessons: a class session, a one-off trial slot or a request (see :mod:`trials`)."""

    resource, model, schema, path, name = trials.RESOURCE, Trial, EducationTrialSchema, "/trials", "trials"
    methods = ("list", "create", "read")
    description = "trial lessons (试听)"
    before_save = staticmethod(trials.prepare_trial)
    after_save = staticmethod(trials.after_create)

    def create(self, data, actor):
        """Book a trial (201); a trial slot's class and session are created with it."""
        # the write path's hooks take no actor; a trial slot writes its class and session as them
        return super().create({**data, "_actor": actor}, actor)

    @action("schedule", schema=EducationScheduleSchema)
    def schedule(self, record, data, actor):
        """The front desk seats a requested trial in a session (409 when full or clashing)."""
        trials.schedule(record, data["session_id"], actor)

    @action("attend", schema=EducationAttendSchema)
    def attend(self, record, data, actor):
        """Mark the trial attended (``trial.attended``) or a no-show."""
        trials.mark_attendance(record, data["attended"], actor)

    @action("feedback", schema=EducationFeedbackSchema)
    def feedback(self, record, data, actor):
        """The consultant's feedback after the trial, with a rating."""
        record.feedback, record.rating = data["feedback"], data.get("rating")

    @action("convert", schema=EducationConvertSchema)
    def convert(self, record, data, actor):
        """Enrol the lead in a class (``enrolment.created``); the trial becomes converted."""
        trials.convert(record, data["class_id"], actor)

    @action("revoke")
    def revoke(self, record, data, actor):
        """Cancel the trial (撤销): its seat is free again, offered to the session's waiting list."""
        trials.revoke(record, actor)


Trials.mount(blp)

register_crud(
    blp,
    "education.followups",
    FollowUp,
    EducationFollowUpSchema,
    path="/followups",
    name="followups",
    methods=("list", "create", "read", "update"),
    description="follow-ups of leads (跟进记录)",
)


@blp.route("/followups/due")
@blp.response(200, EducationFollowUpSchema(many=True))
def followups_due():
    """The caller's leads whose next contact is due (their latest follow-up per lead)."""
    actor = current_actor()
    require(actor, "education.followups", "read")
    rows = followups.due_contacts(utcnow(), actor.id)
    return json_response(EducationFollowUpSchema(many=True).dump(list(rows)))


@blp.route("/pool")
@blp.response(200, EducationPoolLeadSchema(many=True))
def pool():
    """The shared pool (公海): leads without an owner in the caller's ``education.pool`` scope,
    with their last follow-up's time."""
    actor = current_actor()
    require(actor, followups.POOL, "read")
    rows = list(
        scoped(followups.pool_leads(Customer.select()), actor, followups.POOL, model=Customer)
        .order_by(Customer.id)
        .limit(500)
    )
    last = followups.last_contacts(r.id for r in rows) if rows else {}
    body = [
        {
            "customer_id": r.id,
            "name": r.name,
            "department_id": r.department_id,
            "last_contact_at": last[r.id].isoformat() + "Z" if r.id in last else None,
        }
        for r in rows
    ]
    return json_response(body)


@blp.route("/pool/<int:customer_id>/claim", methods=["POST"])
@blp.response(200, EducationClaimSchema)
def claim(customer_id):
    """Claim a lead from the pool: the caller becomes its consultant (409 once someone has)."""
    actor = current_actor()
    lead = followups.claim(customer_id, actor)
    return json_response({"customer_id": lead.id, "owner_id": lead.owner_id})


def _period():
    try:
        start = dt.date.fromisoformat(request.args.get("from", "")) if request.args.get("from") else None
        until = dt.date.fromisoformat(request.args.get("until", "")) if request.args.get("until") else None
    except ValueError:
        raise APIError(400, _("Dates are YYYY-MM-DD."), errors={"from": [_("Not a date.")]}) from None
    today = utcnow().date()
    until = until or today
    start = start or until.replace(day=1)
    if until < start:
        raise APIError(400, _("The period ends before it starts."), errors={"until": [_("Before from.")]})
    group = request.args.get("by", "")
    if group not in metrics.GROUPS:
        raise APIError(
            400,
            _("by is one of: %(groups)s.", groups=", ".join(metrics.GROUPS)),
            errors={"by": [_("Unknown.")]},
        )
    return start, until, group


@blp.route("/metrics/funnel")
@blp.response(200, EducationFunnelSchema)
def funnel():
    """Lead → trial booked → trial attended → enrolled for the leads created in [from, until],
    with the rates; ``by=consultant`` or ``by=campus`` splits it. Only leads the caller may read."""
    actor = current_actor()
    require(actor, "education.metrics", "read")
    start, until, group = _period()
    return json_response(metrics.funnel(actor, start, until, group))


@blp.route("/metrics/school")
@blp.response(200, EducationSchoolSchema)
def school():
    """Per month of [from, until]: renewal rate, attendance rate and consumed-hours revenue
    (``by=consultant`` / ``by=campus`` splits it); definitions in the answer's ``definitions``."""
    actor = current_actor()
    require(actor, "education.metrics", "read")
    start, until, group = _period()
    return json_response(metrics.school(actor, start, until, group))
