"""The pipeline board (drag a deal to another stage) and the ticket queue (SLA countdown).

Both read through ``permissions.scoped`` and dump through the collections' ``Crud`` (masked), and
both write through ``crm_core.records.service`` with the collection's own hooks, so a move on the
board records the stage history and a status change checks the ticket's status flow exactly as
the API does.
"""

from __future__ import annotations

import datetime as dt

from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import permissions
from ..db import database, utcnow
from ..entities.models import TICKET_STATUSES, Deal, Pipeline, Stage, Ticket
from ..entities.tickets import TRANSITIONS
from ..errors import APIError, wants_json
from .blueprint import bp
from .forms import FormErrors, load, save
from .registry import fields_for, get_resource
from .session import login_required

BOARD_LIMIT = 100


@bp.route("/pipeline")
@login_required
def pipeline():
    """The board of one pipeline: a column per stage with the deals the user may read."""
    actor = g.actor
    res = get_resource("deals")
    pipelines = list(Pipeline.select().order_by(Pipeline.is_default.desc(), Pipeline.id))
    chosen = None
    wanted = request.args.get("pipeline", type=int)
    for p in pipelines:
        if p.id == wanted or (wanted is None and chosen is None):
            chosen = p
    columns = []
    if chosen is not None:
        stages = list(Stage.select().where(Stage.pipeline == chosen.id).order_by(Stage.position))
        query = Deal.select().where(Deal.pipeline == chosen.id).order_by(Deal.stage_changed_at.desc())
        rows = list(permissions.scoped(query, actor, "deals", "read", model=Deal).limit(BOARD_LIMIT * 10))
        dumped = res.crud.dump(rows, actor) if rows else []
        by_stage: dict[int, list] = {s.id: [] for s in stages}
        for deal in dumped:
            bucket = by_stage.get(deal.get("stage_id"))
            if bucket is not None and len(bucket) < BOARD_LIMIT:
                bucket.append(deal)
        columns = [{"stage": s, "deals": by_stage[s.id]} for s in stages]
    return render_template(
        "crm/pipeline.html",
        pipelines=pipelines,
        chosen=chosen,
        columns=columns,
        can_move=permissions.can(actor, "deals", "update"),
        show_amount="amount" in {f.name for f in fields_for(res, actor)},
    )


@bp.route("/pipeline/deals/<int:deal_id>/stage", methods=["POST"])
@login_required
def move_deal(deal_id):
    """Move a deal to ``stage_id`` (drag and drop posts here with the CSRF header; the form
    fallback posts the same field). JSON callers get the new stage, forms are redirected back."""
    actor = g.actor
    res = get_resource("deals")
    stage_id = request.form.get("stage_id", type=int)
    try:
        with database.atomic():
            deal = res.crud.get(deal_id, actor, "update")
            if stage_id is None:
                raise FormErrors({"stage_id": [_("Choose a stage.")]}, _("Choose a stage."))
            save(res, actor, {"stage_id": stage_id}, deal)
    except FormErrors as exc:
        if wants_json() or request.headers.get("X-Requested-With") == "fetch":
            return jsonify({"code": 422, "message": exc.message, "errors": exc.errors}), 422
        flash(exc.message + " " + " ".join(m for msgs in exc.errors.values() for m in msgs), "error")
        return redirect(url_for("web.pipeline", pipeline=request.form.get("pipeline")))
    if wants_json() or request.headers.get("X-Requested-With") == "fetch":
        return jsonify({"id": deal.id, "stage_id": deal.stage_id, "status": deal.status})
    flash(_("Deal moved."), "success")
    return redirect(url_for("web.pipeline", pipeline=deal.pipeline_id))


def countdown(due: dt.datetime | None, resolved: dt.datetime | None = None) -> dict:
    """Seconds left until the SLA due time (negative when breached) and how to show it."""
    if due is None:
        return {"seconds": None, "state": "none"}
    seconds = int(((resolved or utcnow()) - due).total_seconds() * -1)
    state = "breached" if seconds < 0 else ("soon" if seconds < 3600 else "ok")
    return {"seconds": seconds, "state": state}


@bp.route("/tickets/queue")
@login_required
def ticket_queue():
    """Open tickets the user may read, the closest SLA due time first, with a live countdown."""
    actor = g.actor
    res = get_resource("tickets")
    query = Ticket.select().where(Ticket.status.not_in(["resolved", "closed"]))
    mine = request.args.get("mine") == "1"
    if mine:
        query = query.where(Ticket.assignee_id == actor.id)
    query = permissions.scoped(query, actor, "tickets", "read", model=Ticket)
    rows = list(query.order_by(Ticket.sla_due_at.asc(nulls="LAST"), Ticket.id).limit(200))
    tickets = []
    dumped = res.crud.dump(rows, actor) if rows else []
    for row, data in zip(rows, dumped, strict=True):
        tickets.append(
            {
                "data": data,
                "countdown": countdown(row.sla_due_at, row.resolved_at),
                "next": TRANSITIONS.get(row.status, ()),
                "can_update": permissions.can(actor, "tickets", "update", row),
            }
        )
    return render_template(
        "crm/tickets.html",
        tickets=tickets,
        mine=mine,
        statuses=TICKET_STATUSES,
        status_writable="status" in {f.name for f in fields_for(res, actor, for_form=True) if f.writable},
    )


@bp.route("/tickets/<int:ticket_id>/status", methods=["POST"])
@login_required
def ticket_status(ticket_id):
    """Move a ticket along its status flow (409 with the allowed next statuses otherwise)."""
    actor = g.actor
    res = get_resource("tickets")
    status = request.form.get("status", "")
    values = {"status": status}
    if status == "assigned" and request.form.get("assign_to_me"):
        values["assignee_id"] = actor.id
    try:
        with database.atomic():
            ticket = res.crud.get(ticket_id, actor, "update")
            if status == "assigned" and ticket.assignee_id is None:
                values["assignee_id"] = actor.id
            save(res, actor, load(res, values, partial=True), ticket)
    except FormErrors as exc:
        flash(exc.message + " " + " ".join(m for msgs in exc.errors.values() for m in msgs), "error")
    except APIError as exc:
        if exc.code != 400:
            raise
        flash(exc.message, "error")
    else:
        flash(_("Ticket updated."), "success")
    return redirect(url_for("web.ticket_queue", mine=request.form.get("mine") or None))
