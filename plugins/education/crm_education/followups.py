"""Follow-ups (跟进记录) and the shared pool (公海).

A follow-up is a consultant's note on a lead with the next contact's time. A lead (a customer at
``lifecycle_stage`` ``lead`` with an owner) whose last follow-up, or whose creation when it has
none, is older than ``EDUCATION_POOL_DAYS`` goes back to the shared pool: its owner is cleared
through the core's write path (``update_record``), which writes the audit entry and the
``customers.update`` event, and keeps its campus (the pool is the campus's). The job's run log
lists who was released and why.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw
from flask_babel import gettext as _

from crm_core.plugin_api import APIError, Customer, get_record, update_record, write_transaction

from . import settings
from .models import FollowUp


def last_contacts(customer_ids) -> dict[int, dt.datetime]:
    """The time of each lead's latest follow-up."""
    rows = (
        FollowUp.select(FollowUp.customer_id, pw.fn.MAX(FollowUp.created_at))
        .where(FollowUp.customer_id.in_(list(customer_ids)))
        .group_by(FollowUp.customer_id)
        .tuples()
    )
    return dict(rows)


def stale_leads(now: dt.datetime, days: int) -> list[tuple[Customer, dt.datetime]]:
    """Owned leads untouched for ``days``: ``(customer, last touch)``."""
    cutoff = now - dt.timedelta(days=days)
    leads = list(
        Customer.select().where(
            Customer.lifecycle_stage == "lead", Customer.owner_id.is_null(False), Customer.created_at < cutoff
        )
    )
    last = last_contacts(c.id for c in leads) if leads else {}
    out = []
    for customer in leads:
        touched = max(customer.created_at, last.get(customer.id) or customer.created_at)
        if touched < cutoff:
            out.append((customer, touched))
    return out


def return_to_pool(ctx) -> dict:
    """Leads not followed up in EDUCATION_POOL_DAYS days return to the shared pool (公海)."""
    days = settings.get("POOL_DAYS")
    if days <= 0:
        return {"released": [], "days": days}
    released = []
    for customer, touched in stale_leads(ctx.now, days):
        owner = customer.owner_id
        update_record(
            "customers", customer, {"owner_id": None, "department_id": customer.department_id}, ctx.actor
        )
        released.append({"customer_id": customer.id, "owner_id": owner, "last_contact": touched.isoformat()})
    ctx.log.info("%d leads returned to the pool", len(released))
    return {"released": released, "days": days}


def due_contacts(now: dt.datetime, actor_id: int | None = None):
    """Follow-ups whose next contact is due (the latest note per lead only)."""
    latest = FollowUp.select(pw.fn.MAX(FollowUp.id)).group_by(FollowUp.customer_id)
    query = FollowUp.select().where(FollowUp.id.in_(latest), FollowUp.next_contact_at <= now)
    if actor_id is not None:
        query = query.where(FollowUp.owner_id == actor_id)
    return query.order_by(FollowUp.next_contact_at)


POOL = "education.pool"


def pool_leads(query):
    """``query`` (on customers) narrowed to the shared pool: leads without an owner."""
    return query.where(Customer.lifecycle_stage == "lead", Customer.owner_id.is_null())


def claim(customer_id: int, actor) -> Customer:
    """Take a lead from the shared pool (公海) as its consultant: ``education.pool:claim`` on the
    lead (the pool's scope: the campus), then the owner is set through the core's write path (an
    audit entry, ``customers.update``), so ``customers:update`` must cover the lead too. Of two
    claiming one lead at once, the second gets a 409, or a 404 when the claim took the lead out of
    their sight (a consultant sees only their own leads and the pool's: ``access``)."""
    with write_transaction():
        lead = get_record(Customer, customer_id, actor, POOL, "claim", lock=True)
        if lead.owner_id is not None or lead.lifecycle_stage != "lead":
            raise APIError(
                409, _("This lead is no longer in the pool."), errors={"customer_id": [_("Claimed.")]}
            )
        return update_record("customers", lead, {"owner_id": actor.id}, actor)
