"""Tickets (service work orders): a status flow with allowed transitions only, an SLA due time
computed from the priority, a breach flag, and every transition recorded; and activities
(notes, calls, meetings, tasks) attached to any object."""

from __future__ import annotations

from flask.views import MethodView

from ..auth import current_actor
from ..entities import activities, tickets
from ..entities.models import Activity, Ticket, TicketTransition
from ..entities.schemas import ActivitySchema, TicketSchema, TransitionSchema
from . import API_PREFIX, Blueprint
from .crud import register_crud
from .responses import json_response

blp = Blueprint(
    "tickets", __name__, url_prefix=API_PREFIX, description="Service tickets with status flow and SLA"
)
activities_blp = Blueprint(
    "activities",
    __name__,
    url_prefix=API_PREFIX,
    description="Notes, calls, meetings and tasks on any object",
)

crud = register_crud(
    blp,
    "tickets",
    Ticket,
    TicketSchema,
    search_fields=lambda: [Ticket.title, Ticket.description],
    extra_filters={"sla_breached": tickets.breached_filter},
    **tickets.WRITE_OPTIONS,
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


activities_crud = register_crud(
    activities_blp,
    "activities",
    Activity,
    ActivitySchema,
    search_fields=lambda: [Activity.subject, Activity.body],
    **activities.WRITE_OPTIONS,
)
