"""The core's part of the demo (``crm_demo_data``): a dealer tree of companies with contacts,
deals in every stage with their history, tickets in every status with their transitions, and
calls, meetings and tasks, some overdue; inserted in bulk (seed data, not business events). With
``DemoContext.audit`` each record is then reported as a ``create`` (:mod:`crm_core.demo.audited`):
one audit entry each, all in one batch, no outbox event. Stage moves and ticket transitions are
the records' history, as the write path keeps them, not records of their own: no entries."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from ..auth.models import User
from ..bulk import insert_rows
from ..changes import batched
from ..db import utcnow
from ..entities.models import (
    ACTIVITY_KINDS,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
    Activity,
    Company,
    Contact,
    Customer,
    Deal,
    DealStageChange,
    Ticket,
    TicketTransition,
)
from ..entities.tickets import SLA_HOURS, sla_due
from ..reference_data import (
    default_pipeline,
)
from ..types import DemoContext
from .audited import report_created
from .customers import TEXT, insert_ids

log = logging.getLogger(__name__)


def seed_records(context: DemoContext) -> None:
    """The core's demo records for ``context.customers`` (the core's ``crm_demo_data``): companies
    with contacts, deals across the stages with their history, tickets in every status with their
    transitions, and activities (tasks due, some overdue); with ``context.audit`` each reported as
    a create, in one batch."""
    if not context.customers:
        return
    rng, locale, text = context.random, context.locale, TEXT[context.locale]
    now = utcnow().replace(microsecond=0)
    rows = (
        Customer.select(Customer.id, Customer.name, Customer.owner_id, Customer.department_id)
        .where(Customer.id.in_(context.customers))
        .order_by(Customer.id.desc())
        .tuples()
    )
    customers = list(rows)
    n = len(customers)
    agents = context.users.get("service") or []
    agent = agents[0] if agents else None
    service_dept = User.get_by_id(agent).department_id if agent else None
    companies, company_owner, new_companies = _companies(customers, n, rng, text, now)
    contacts, contact_ids = _contacts(customers, companies, company_owner, rng, text, now)
    deals, deal_ids = _deals(customers[: n // 2], contacts, locale, rng, text, now)
    ticket_ids = _tickets(customers[: n // 4], agent, service_dept, rng, text, now)
    activity_ids = _activities(customers[: n // 2], deals, deal_ids, rng, text, now)
    if context.audit:
        with batched():  # every kind in one batch: one multi-row insert of entries
            report_created("companies", Company, new_companies)
            report_created("contacts", Contact, contact_ids)
            report_created("deals", Deal, deal_ids)
            report_created("tickets", Ticket, ticket_ids)
            report_created("activities", Activity, activity_ids)


def _companies(customers, n, rng, text, now):
    """A dealer tree: the master distributor and ``n // 100`` dealers below it (at least one);
    returns (the companies, id -> (owner, department), the ids of those made now)."""
    book = [(owner, dept) for _id, _name, owner, dept in customers if owner is not None]
    root_name = text["root_company"][0]
    root = Company.get_or_none(Company.name == root_name, Company.parent.is_null())
    made = []
    if root is None:
        owner, dept = book[0] if book else (None, None)
        root = Company.create(name=root_name, industry="distribution", owner_id=owner, department_id=dept)
        root.path = f"/{root.id}/"
        root.save(only=[Company.path])
        made.append(root.id)
    companies, owners = [root], {root.id: (root.owner_id, root.department_id)}
    for _i in range(max(1, n // 100)):
        parent = rng.choice(companies)
        owner, dept = rng.choice(book) if book else (None, None)
        name = rng.choice(text["company_city"]) + _space(text) + rng.choice(text["company_word"])
        company = Company.create(
            name=name + _space(text) + rng.choice(text["company_kind"]),
            parent=parent,
            industry=rng.choice(("retail", "wholesale")),
            phone=f"+8621{rng.randrange(10**7, 10**8)}",
            owner_id=owner,
            department_id=dept,
            created_at=now - dt.timedelta(days=rng.randrange(30, 700)),
        )
        company.path = f"{parent.path}{company.id}/"
        company.save(only=[Company.path])
        companies.append(company)
        owners[company.id] = (owner, dept)
        made.append(company.id)
    return companies, owners, made


def _space(text) -> str:
    return "" if text is TEXT["zh_CN"] else " "


def _contacts(customers, companies, company_owner, rng, text, now) -> tuple[dict[int, int], list[int]]:
    """A third of the customers are contacts (buyer, owner...) of a company of the same owner when
    there is one; returns (customer id → company id, the new contacts' ids)."""
    by_owner: dict = {}
    for company in companies:
        by_owner.setdefault(company_owner[company.id][0], []).append(company.id)
    rows, linked, primary = [], {}, set()
    for cid, _name, owner, dept in customers[::3]:
        company_id = rng.choice(by_owner.get(owner) or [c.id for c in companies])
        rows.append(
            {
                "customer": cid,
                "company": company_id,
                "role": rng.choice(text["contact_role"]),
                "is_primary": company_id not in primary,
                "owner_id": owner,
                "department_id": dept,
                "custom": {},
                "created_at": now,
                "updated_at": now,
            }
        )
        primary.add(company_id)
        linked[cid] = company_id
    fields = list(rows[0]) if rows else []
    ids = insert_rows(Contact, fields, [tuple(r[f] for f in fields) for r in rows], ignore_conflicts=True)
    return linked, ids


def _deals(customers, contacts, locale, rng, text, now):
    """One deal per customer, spread over every stage of the locale's pipeline, each with the
    stage moves that brought it there; returns (deal rows, ids)."""
    pipeline = default_pipeline(locale)
    stages = list(pipeline.stages)
    opens = [s for s in stages if s.kind == "open"] or stages[:1]
    deals, paths = [], []
    for i, (cid, name, owner, dept) in enumerate(customers):
        # the first deals visit every stage in turn, so even a small demo fills the board
        stage = stages[i] if i < len(stages) else rng.choice(stages)
        if stage.kind == "open":
            path = opens[: opens.index(stage) + 1] if stage in opens else [stage]
        else:
            path = [*opens[: rng.randrange(1, len(opens) + 1)], stage]
        created = now - dt.timedelta(days=rng.randrange(len(path) * 3, 120), hours=rng.randrange(24))
        moved = [created + (now - created) * k / len(path) for k in range(len(path))]
        closed = stage.kind != "open"
        deals.append(
            {
                "title": f"{name} · {rng.choice(text['deal'])}",
                "customer": cid,
                "company": contacts.get(cid),
                "pipeline": pipeline.id,
                "stage": stage.id,
                "status": stage.kind,
                "amount": Decimal(rng.randrange(50_000, 5_000_000)) / 100,
                "currency": "CNY",
                "expected_close_date": (created + dt.timedelta(days=rng.randrange(20, 90))).date(),
                "close_reason": rng.choice(text["lost_reason"]) if stage.kind == "lost" else None,
                "closed_at": moved[-1] if closed else None,
                "stage_changed_at": moved[-1],
                "owner_id": owner,
                "department_id": dept,
                "custom": {},
                "created_at": created,
                "updated_at": moved[-1],
            }
        )
        paths.append((path, moved, owner))
    ids = insert_ids(Deal, deals)
    changes = []
    for deal_id, (path, moved, owner) in zip(ids, paths, strict=True):
        previous = None
        for stage, when in zip(path, moved, strict=True):
            changes.append(
                {
                    "deal": deal_id,
                    "from_stage": previous,
                    "to_stage": stage.id,
                    "changed_at": when,
                    "actor_id": owner,
                }
            )
            previous = stage.id
    insert_ids(DealStageChange, changes)
    return deals, ids


def _tickets(customers, agent, service_dept, rng, text, now) -> list[int]:
    """Tickets in every status (each with the transitions that led there), owned by the customer's
    sales rep, worked by the support agent in the service centre; returns their ids."""
    tickets, flows = [], []
    for i, (cid, _name, owner, dept) in enumerate(customers):
        status = TICKET_STATUSES[i % len(TICKET_STATUSES)]
        if agent is None and status != "new":
            status = "new"  # without an agent nobody could have picked it up
        flow = list(TICKET_STATUSES[: TICKET_STATUSES.index(status) + 1])
        priority = rng.choice(TICKET_PRIORITIES)
        times = _ticket_times(flow, SLA_HOURS[priority], rng, now)
        created = times[0]
        tickets.append(
            {
                "title": rng.choice(text["ticket"]),
                "description": rng.choice(text["ticket_body"]),
                "customer": cid,
                "priority": priority,
                "status": status,
                "assignee_id": agent if status != "new" else None,
                "sla_due_at": sla_due(created, priority),
                "resolved_at": times[3] if len(times) > 3 else None,
                "closed_at": times[4] if len(times) > 4 else None,
                "owner_id": owner,
                "department_id": service_dept if service_dept is not None else dept,
                "custom": {},
                "created_at": created,
                "updated_at": times[-1],
            }
        )
        flows.append((flow, times, owner))
    ids = insert_ids(Ticket, tickets)
    transitions = []
    for ticket_id, (flow, times, owner) in zip(ids, flows, strict=True):
        previous = None
        for status, when in zip(flow, times, strict=True):
            transitions.append(
                {
                    "ticket": ticket_id,
                    "from_status": previous,
                    "to_status": status,
                    "changed_at": when,
                    "actor_id": owner if previous is None else agent,
                }
            )
            previous = status
    insert_ids(TicketTransition, transitions)
    return ids


def _ticket_times(flow, sla_hours: int, rng, now) -> list[dt.datetime]:
    """When a ticket went through each status of ``flow``: open tickets are recent (some already
    past their SLA), finished ones older and mostly resolved within it."""
    hour = dt.timedelta(hours=1)
    if "resolved" not in flow:
        created = now - hour * rng.uniform(0.5, sla_hours * 1.5)
        return [created + (now - created) * k / len(flow) for k in range(len(flow))]
    created = now - hour * rng.uniform(sla_hours * 2 + 24, 24 * 30)
    resolved = created + hour * sla_hours * rng.uniform(0.3, 1.3)
    times = [created, created + (resolved - created) * 0.2, created + (resolved - created) * 0.4, resolved]
    return times + ([min(resolved + 24 * hour, now)] if "closed" in flow else [])


def _activities(customers, deals, deal_ids, rng, text, now) -> list[int]:
    """One activity per customer (notes, calls, meetings and tasks; tasks due in the past week or
    the next two, some done) and a follow-up task on every open deal; returns their ids."""
    rows = []

    def add(kind, subject, related_type, related_id, cid, owner, dept, created):
        due = done_at = None
        done = False
        if kind in ("task", "meeting"):
            due = now + dt.timedelta(days=rng.randrange(-7, 15), hours=rng.randrange(8, 18))
            done = due < now and rng.random() < 0.4  # the rest of the past ones are overdue
            done_at = due if done else None
        elif kind == "call":
            done, done_at = True, created
        rows.append(
            {
                "kind": kind,
                "subject": subject,
                "body": "",
                "due_at": due,
                "done": done,
                "done_at": done_at,
                "related_type": related_type,
                "related_id": related_id,
                "customer": cid,
                "owner_id": owner,
                "department_id": dept,
                "custom": {},
                "created_at": created,
                "updated_at": created,
            }
        )

    for i, (cid, _name, owner, dept) in enumerate(customers):
        kind = ACTIVITY_KINDS[i % len(ACTIVITY_KINDS)]
        created = now - dt.timedelta(days=rng.randrange(1, 60))
        add(kind, rng.choice(text[kind]), "customers", cid, cid, owner, dept, created)
    for deal_id, deal in zip(deal_ids, deals, strict=True):
        if deal["status"] == "open":
            subject = rng.choice(text["task"])
            add("task", subject, "deals", deal_id, deal["customer"], deal["owner_id"], deal["department_id"],
                deal["created_at"])  # fmt: skip
    return insert_ids(Activity, rows)
