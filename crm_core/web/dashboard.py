"""The dashboard: record counts, the pipeline by stage, tickets by status and SLA breaches, and
the panels plugins add (``crm_nav`` entries of kind ``dashboard``). Every figure is a COUNT or SUM
over ``permissions.scoped`` queries, so a sales rep sees the figures of their own scope."""

from __future__ import annotations

import peewee as pw
from flask import g, render_template

from .. import permissions
from ..api.deals import default_pipeline, stage_totals
from ..db import reading_replica
from ..entities.models import TICKET_STATUSES, Ticket
from ..entities.tickets import breached_filter
from .blueprint import bp
from .nav import render_panels
from .registry import RESOURCE_LABELS, cruds, value_label
from .session import login_required

COUNTED = ("customers", "companies", "deals", "tickets", "activities")


def _readable(actor, resource) -> bool:
    return resource in cruds() and permissions.can(actor, resource, "read")


def counts(actor) -> list[dict]:
    """Records per collection within the actor's read scope."""
    out = []
    for resource in COUNTED:
        if not _readable(actor, resource):
            continue
        model = cruds()[resource].model
        total = permissions.scoped(model.select(), actor, resource, "read", model=model).count()
        out.append(
            {"resource": resource, "label": str(RESOURCE_LABELS.get(resource, resource)), "count": total}
        )
    return out


def pipeline_summary(actor) -> dict | None:
    """Deals and amounts per stage of the default pipeline (the deals the actor may read; no
    amounts where the actor's field rules hide them)."""
    if not _readable(actor, "deals"):
        return None
    pipeline = default_pipeline()
    if pipeline is None:
        return None
    stages = [
        {
            "name": row["name"],
            "count": row["count"],
            "amount": None if row["amount"] is None else str(row["amount"]),
        }
        for row in stage_totals(actor, pipeline)
    ]
    return {
        "pipeline": pipeline.name,
        "stages": stages,
        "amounts": all(s["amount"] is not None for s in stages),
    }


def ticket_summary(actor) -> dict | None:
    """Tickets per status and the number breaching their SLA, within the actor's scope."""
    if not _readable(actor, "tickets"):
        return None
    query = Ticket.select(Ticket.status, pw.fn.COUNT(Ticket.id))
    query = permissions.scoped(query, actor, "tickets", "read", model=Ticket).group_by(Ticket.status)
    per_status = dict(query.tuples())
    breached = (
        permissions.scoped(Ticket.select(), actor, "tickets", "read", model=Ticket)
        .where(breached_filter(["true"]))
        .where(Ticket.status.not_in(["closed"]))
        .count()
    )
    return {
        "statuses": [
            {"status": s, "label": value_label(s), "count": per_status.get(s, 0)} for s in TICKET_STATUSES
        ],
        "breached": breached,
    }


@bp.route("/")
@login_required
def dashboard():
    """Counts, the pipeline by stage, tickets by status and SLA breaches, and plugin panels."""
    actor = g.actor
    # figures that may be a few seconds old: from the read replica when there is one
    with reading_replica():
        figures = {
            "counts": counts(actor),
            "pipeline": pipeline_summary(actor),
            "tickets": ticket_summary(actor),
        }
    return render_template("crm/dashboard.html", **figures, panels=render_panels("dashboard", actor=actor))
