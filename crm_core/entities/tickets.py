"""Tickets (service work orders): a status flow with allowed transitions only, an SLA due time
computed from the priority, a breach flag, and every transition recorded."""

from __future__ import annotations

import datetime as dt

from ..db import utcnow
from ..errors import APIError
from .models import Customer, Ticket, TicketTransition
from .refs import require_ref, writer

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


#: ``records.service`` options for a ticket: the status flow and SLA, and the transition log.
WRITE_OPTIONS = {"before_save": apply_flow, "after_save": record_transition}
