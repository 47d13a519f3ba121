"""Tickets (service work orders): a status flow with allowed transitions only, an SLA due time
computed from the priority, a breach flag, and every transition recorded; and activities
(notes, calls, meetings, tasks) attached to any object."""

from __future__ import annotations

import datetime as dt

from flask.views import MethodView

from ..auth import current_actor
from ..db import utcnow
from ..entities.models import Activity, Company, Contact, Customer, Deal, Ticket, TicketTransition
from ..entities.refs import require_ref, writer
from ..entities.schemas import ActivitySchema, TicketSchema, TransitionSchema
from ..errors import APIError
from . import API_PREFIX, Blueprint
from .crud import json_response, register_crud

blp = Blueprint(
    "tickets", __name__, url_prefix=API_PREFIX, description="Service tickets with status flow and SLA"
)
activities_blp = Blueprint(
    "activities",
    __name__,
    url_prefix=API_PREFIX,
    description="Notes, calls, meetings and tasks on any object",
)

#: Hours from creation to the SLA due time, per priority.
SLA_HOURS = {"urgent": 4, "high": 8, "normal": 24, "low": 72}

#: The status flow: where a ticket may go from each status (resolved may be reopened).
TRANSITIONS = {
    "new": ("assigned",),
    "assigned": ("in_progress", "new"),
    "in_progress": ("resolved", "assigned"),
    "resolved": ("closed", "in_progress"),
    "closed": (),
}


def sla_due(created_at: dt.datetime, priority: str) -> dt.datetime:
    """When a ticket of ``priority`` created at ``created_at`` must be resolved."""
    return created_at + dt.timedelta(hours=SLA_HOURS[priority])


def apply_flow(record: Ticket, data: dict, before) -> None:
    """Check the status transition and keep SLA and timestamps in step."""
    if record.customer_id is not None and (before is None or "customer_id" in data):
        require_ref(Customer, "customers", record.customer_id, "customer_id")
    if before is None:
        if "status" not in data:
            record.status = "assigned" if record.assignee_id is not None else "new"
        elif record.status not in ("new", "assigned"):
            raise APIError(
                422, "A ticket starts as new or assigned.", errors={"status": ["Must be new or assigned."]}
            )
    previous = before.get("status") if before is not None else None
    if before is not None and record.status != previous and record.status not in TRANSITIONS[previous]:
        allowed = ", ".join(TRANSITIONS[previous]) or "none (closed)"
        raise APIError(
            409,
            f"A ticket cannot go from {previous} to {record.status}.",
            errors={"status": [f"From {previous} the allowed statuses are: {allowed}."]},
        )
    if record.status == "assigned" and record.assignee_id is None:
        raise APIError(
            422, "An assigned ticket needs an assignee.", errors={"assignee_id": ["Required when assigned."]}
        )
    if before is None or "priority" in data:
        record.sla_due_at = sla_due(record.created_at, record.priority)
    if record.status != previous:
        if record.status == "resolved":
            record.resolved_at = utcnow()
        elif record.status == "closed":
            record.closed_at = utcnow()
        elif record.status == "in_progress" and previous == "resolved":
            record.resolved_at = None


def record_transition(record: Ticket, data: dict, before) -> None:
    """One history row per status change (and one for the initial status)."""
    previous = before.get("status") if before is not None else None
    if before is None or previous != record.status:
        actor = writer()
        TicketTransition.create(
            ticket=record.id,
            from_status=previous,
            to_status=record.status,
            actor_id=actor.id if actor is not None else None,
        )


def breached_filter(values: list[str]):
    """``sla_breached=true|false``: resolved late, or still open past the due time."""
    text = values[-1].strip().lower()
    if text not in ("true", "false", "1", "0"):
        raise APIError(
            400, "Invalid query parameter 'sla_breached'.", errors={"sla_breached": ["true or false."]}
        )
    now = utcnow()
    late_open = Ticket.resolved_at.is_null() & (Ticket.sla_due_at < now)
    late_resolved = Ticket.resolved_at.is_null(False) & (Ticket.resolved_at > Ticket.sla_due_at)
    breached = late_open | late_resolved
    return breached if text in ("true", "1") else ~breached


crud = register_crud(
    blp,
    "tickets",
    Ticket,
    TicketSchema,
    search_fields=lambda: [Ticket.title, Ticket.description],
    extra_filters={"sla_breached": breached_filter},
    before_save=apply_flow,
    after_save=record_transition,
)


@blp.route("/tickets/<int:record_id>/transitions")
class TicketTransitions(MethodView):
    @blp.response(200, TransitionSchema(many=True))
    def get(self, record_id):
        """The ticket's status history, oldest first."""
        actor = current_actor()
        ticket = crud.get(record_id, actor)
        rows = (
            TicketTransition.select()
            .where(TicketTransition.ticket == ticket.id)
            .order_by(TicketTransition.changed_at, TicketTransition.id)
        )
        return json_response(TransitionSchema(many=True).dump(list(rows)))


# --- activities ---------------------------------------------------------------------------------

TARGETS = {"customers": Customer, "companies": Company, "contacts": Contact, "deals": Deal, "tickets": Ticket}


def target_model(related_type: str):
    """The model behind an activity's ``related_type``: a core collection, or any entity the
    metadata engine knows (plugin records, custom object types ``objects.<type>``); else 422."""
    from ..metadata.entities import entity_model

    model = TARGETS.get(related_type) or entity_model(related_type)
    if model is None:
        raise APIError(
            422,
            f"Activities cannot be attached to {related_type!r}.",
            errors={"related_type": [f"Unknown object type; e.g. {', '.join(TARGETS)} or objects.<type>."]},
        )
    return model


def attach(record: Activity, data: dict, before) -> None:
    """Check the target object and derive the customer the activity belongs to."""
    if before is None and record.done:
        record.done_at = utcnow()
    elif before is not None and "done" in data and bool(before.get("done")) != bool(record.done):
        record.done_at = utcnow() if record.done else None
    if before is not None and not ({"related_type", "related_id", "customer_id"} & set(data)):
        return
    if (record.related_type is None) != (record.related_id is None):
        raise APIError(
            422,
            "Give related_type and related_id together.",
            errors={
                "related_id" if record.related_id is None else "related_type": ["Required with the other."]
            },
        )
    customer_id = data.get("customer_id", record.customer_id)
    if record.related_type is not None:
        target = require_ref(
            target_model(record.related_type), record.related_type, record.related_id, "related_id"
        )
        if record.related_type == "customers":
            customer_id = target.id
        elif getattr(target, "customer_id", None) is not None:
            customer_id = target.customer_id
    if customer_id is not None and "customer_id" in data:
        require_ref(Customer, "customers", customer_id, "customer_id")
    record.customer = customer_id


activities_crud = register_crud(
    activities_blp,
    "activities",
    Activity,
    ActivitySchema,
    search_fields=lambda: [Activity.subject, Activity.body],
    before_save=attach,
)
