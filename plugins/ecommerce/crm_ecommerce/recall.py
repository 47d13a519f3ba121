"""Recall flows: a cart or checkout left, or a long look at a page, without an order.

``start`` (from ``crm_event``) opens a run when a trigger event (``cart.updated``,
``checkout.started``, ``page.dwell``, from channel tracking or a shop) names a customer, once per
(flow, event id) so a redelivered event starts nothing, and not while the customer is in the
flow's cooldown (a run started within ``cooldown_days``). The job ``ecommerce:recall`` (every
minute) takes the runs that are due and, each under its row lock, checks the exit conditions
again, in this order:

- ``ordered``: the customer placed an order since the run started;
- ``no_consent``: the customer's latest marketing consent is not ``given`` (or there is none);
- ``recalled_recently``: another run of the flow was sent to them within ``cooldown_days``.

Otherwise it issues the flow's coupon (if it has one) and sends the message: it emits
``recall.sent`` with the text, the code and the customer, for the messaging hook the
integrations add; the text itself goes out through the core's messaging as a ``marketing``
message (:mod:`crm_ecommerce.messages`). Each run ends ``sent`` or ``exited`` with
its reason, so a flow's results are counted from its runs.
"""

from __future__ import annotations

import datetime as dt

from crm_core.plugin_api import (
    APIError,
    Customer,
    database,
    emit,
    has_consent,
    is_postgres,
    utcnow,
    write_transaction,
)

from . import coupons, messages
from .coupon_models import CouponTemplate
from .models import Order
from .recall_models import TRIGGERS, RecallFlow, RecallRun

RESOURCE = "ecommerce.recall"
PURPOSE = "marketing"


def start(event) -> int:
    """Open the runs a trigger event starts; how many were opened."""
    if event.type not in TRIGGERS:
        return 0
    data = event.data or {}
    try:
        customer_id = int(data.get("customer_id") or event.customer_id)
    except (TypeError, ValueError):
        return 0  # an anonymous visitor: nobody to recall
    at = event.occurred_at or utcnow()
    opened = 0
    with write_transaction():
        for flow in RecallFlow.select().where(RecallFlow.active == True):  # noqa: E712 (SQL)
            if event.type not in (flow.triggers or []):
                continue
            since = at - dt.timedelta(days=flow.cooldown_days)
            if (
                RecallRun.select()
                .where(
                    RecallRun.flow == flow.id,
                    RecallRun.customer_id == customer_id,
                    RecallRun.started_at > since,
                )
                .exists()
            ):
                continue
            now = utcnow()
            query = RecallRun.insert(
                flow=flow.id,
                customer_id=customer_id,
                event_id=event.id,
                trigger=event.type,
                started_at=at,
                due_at=at + dt.timedelta(minutes=flow.delay_minutes),
                created_at=now,
                updated_at=now,
            ).on_conflict_ignore()
            opened += database.execute(query).rowcount  # 0 for a redelivered event
    return opened


def _exit_reason(run: RecallRun, flow: RecallFlow, customer) -> str | None:
    if Order.select().where(Order.customer_id == run.customer_id, Order.placed_at >= run.started_at).exists():
        return "ordered"
    if customer is None or not has_consent(customer, PURPOSE):
        return "no_consent"
    since = run.due_at - dt.timedelta(days=flow.cooldown_days)
    recent = RecallRun.select().where(
        RecallRun.flow == flow.id,
        RecallRun.customer_id == run.customer_id,
        RecallRun.status == "sent",
        RecallRun.finished_at > since,
        RecallRun.id != run.id,
    )
    return "recalled_recently" if recent.exists() else None


def _finish(run: RecallRun, status: str, **values) -> None:
    RecallRun.update(status=status, finished_at=utcnow(), updated_at=utcnow(), **values).where(
        RecallRun.id == run.id
    ).execute()


def step(run_id: int, actor) -> str | None:
    """Finish one due run: ``sent`` or ``exited``; None when another worker has it."""
    with write_transaction():
        query = RecallRun.select().where(RecallRun.id == run_id, RecallRun.status == "waiting")
        run = (query.for_update(skip_locked=True) if is_postgres() else query).first()
        if run is None:
            return None
        flow = RecallFlow.get_by_id(run.flow_id)
        customer = Customer.get_or_none(Customer.id == run.customer_id)
        reason = _exit_reason(run, flow, customer)
        if reason is not None:
            _finish(run, "exited", exit_reason=reason)
            return "exited"
        code = None
        if flow.template_id is not None:
            template = CouponTemplate.get_by_id(flow.template_id)
            try:
                with database.atomic():  # a savepoint: a refused issue leaves the run's write usable
                    code = coupons.issue(template, run.customer_id, actor, f"recall:{flow.id}")
            except APIError:  # sold out or expired: a message promising a coupon is not sent
                _finish(run, "exited", exit_reason="coupon_unavailable")
                return "exited"
        text = flow.message.replace("{code}", code.code if code is not None else "")
        delivery = messages.send(text, run.customer_id, PURPOSE, f"ecommerce-recall-{run.id}", actor)
        emit(
            "recall.sent",
            {
                "run_id": run.id,
                "flow_id": flow.id,
                "customer_id": run.customer_id,
                "trigger": run.trigger,
                "code": code.code if code is not None else None,
                "message": text,
                "delivery_id": delivery,
                "owner_id": flow.owner_id,
                "department_id": flow.department_id,
            },
            actor=actor,
            resource=RESOURCE,
            record_id=flow.id,
        )
        _finish(run, "sent", code_id=code.id if code is not None else None)
        return "sent"


def run_due(actor, now: dt.datetime) -> dict:
    """Finish every run due at ``now``; counts by outcome."""
    ids = [
        r.id
        for r in RecallRun.select(RecallRun.id).where(RecallRun.status == "waiting", RecallRun.due_at <= now)
    ]
    counts: dict[str, int] = {}
    for run_id in ids:
        outcome = step(run_id, actor)
        if outcome is not None:
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def results(flow_id: int) -> dict:
    """How a flow's runs ended: ``{"waiting": n, "sent": n, "exited": {reason: n}}``."""
    out: dict = {"waiting": 0, "sent": 0, "exited": {}}
    for run in RecallRun.select(RecallRun.status, RecallRun.exit_reason).where(RecallRun.flow == flow_id):
        if run.status == "exited":
            out["exited"][run.exit_reason] = out["exited"].get(run.exit_reason, 0) + 1
        else:
            out[run.status] += 1
    return out
