"""Issuing a template's codes to many customers at once (a segment, chunk by chunk).

One write transaction per chunk: the template's row locked, the customers who already hold a
code from the same source read once, the stock for the whole chunk taken by one conditional
UPDATE, the codes in one multi-row INSERT, their audit entries reported as one batch
(``batched``: one multi-row insert and one bump of the chain's head) and their events in one
multi-row insert (``emit_many``). Each code still gets its own
audit entry and ``coupon.issued`` event, with the content :func:`crm_ecommerce.coupons.issue`
gives them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from crm_core.plugin_api import APIError, batched, emit_many, is_postgres, utcnow, write_transaction

from .coupon_models import CouponCode, CouponTemplate
from .coupons import audit_issue, cannot_issue, expiry, issued_event, new_code, sold_out


@dataclass
class Issued:
    """What :func:`issue_once_each` did with one chunk of customers, in their order: the codes
    issued, the customers skipped (they hold a code from the same source already) and, when the
    template stopped issuing part way, the refusal's message (the customers after it untouched)."""

    codes: list[CouponCode] = field(default_factory=list)
    skipped: int = 0
    stopped: str | None = None


def issue_once_each(template_id: int, customer_ids: list[int], actor, issued_by: str) -> Issued:
    """One code of the template for each of ``customer_ids`` who holds none from ``issued_by`` yet
    (a segment's chunk), in one write transaction and one batch of audit entries.

    The template's row is locked (``FOR UPDATE`` on PostgreSQL; SQLite's write transactions are
    serial), so the customers' codes and the stock left are read once for the chunk: a run of the
    same source again, or at once, issues nobody twice, and a concurrent single issue waits. The
    stock for the whole chunk is taken by one conditional UPDATE (the limit in its WHERE, as for
    one code), the codes go in with one multi-row INSERT, and each code still gets its own audit
    entry and ``coupon.issued`` event, as ``coupons.issue`` writes them. When the stock runs out or
    the template can no longer issue, the codes before that point are issued and the rest of the
    chunk is left (``stopped``).
    """
    now = utcnow()
    issued_by = issued_by[:100]
    outcome = Issued()
    if not customer_ids:
        return outcome
    with write_transaction(), batched():
        query = CouponTemplate.select().where(CouponTemplate.id == template_id)
        template = (query.for_update() if is_postgres() else query).get_or_none()
        refusal = cannot_issue(template, now)
        if refusal is not None:
            outcome.stopped = refusal.message
            return outcome
        held = _holders(template.id, customer_ids, issued_by)
        room = None if template.total_quantity is None else template.total_quantity - template.issued
        todo: list[int] = []
        for customer_id in customer_ids:
            if customer_id in held:
                outcome.skipped += 1
            elif room is not None and len(todo) >= room:
                outcome.stopped = sold_out().message
                break
            else:
                held.add(customer_id)  # a customer named twice in the chunk gets one code
                todo.append(customer_id)
        if not todo:
            return outcome
        quantity = CouponTemplate.total_quantity
        taken = (
            CouponTemplate.update(issued=CouponTemplate.issued + len(todo))
            .where(
                CouponTemplate.id == template.id,
                quantity.is_null() | (CouponTemplate.issued + len(todo) <= quantity),
            )
            .execute()
        )
        if taken != 1:  # cannot happen under the row lock; the database holds the limit anyway
            raise sold_out()
        outcome.codes = _insert_codes(template, todo, now, issued_by)
        for record in outcome.codes:
            audit_issue(record, actor)
        emit_many([issued_event(record, template, actor) for record in outcome.codes])
    return outcome


def _holders(template_id: int, customer_ids: list[int], issued_by: str) -> set[int]:
    """Which of ``customer_ids`` hold a code of the template from ``issued_by``."""
    rows = CouponCode.select(CouponCode.customer_id).where(
        CouponCode.template == template_id,
        CouponCode.issued_by == issued_by,
        CouponCode.customer_id.in_(customer_ids),
    )
    return {row.customer_id for row in rows}


# a code is 50 random bits: a collision is rare, several in a row mean something else is wrong
CODE_ATTEMPTS = 5


def _insert_codes(
    template: CouponTemplate, customer_ids: list[int], now: dt.datetime, issued_by: str
) -> list[CouponCode]:
    """New codes for ``customer_ids`` in one multi-row INSERT; a code already in use is skipped by
    the unique index and drawn again (as :func:`issue` refuses a chosen code that is taken, but a
    drawn one need not fail the chunk)."""
    expires_at = expiry(template, now)
    waiting = list(customer_ids)
    records: list[CouponCode] = []
    for _attempt in range(CODE_ATTEMPTS):
        drawn: dict[str, CouponCode] = {}
        for customer_id in waiting:
            text = new_code()
            while text in drawn:
                text = new_code()
            drawn[text] = CouponCode(
                template=template.id,
                code=text,
                customer_id=customer_id,
                max_uses=template.uses_per_code,
                issued_at=now,
                expires_at=expires_at,
                issued_by=issued_by,
            )
        # every column, defaults included, as the instances hold them; tuples with the fields
        # named once cost peewee half the work of a dict a row
        names = [name for name in CouponCode._meta.fields if name != "id"]
        rows = [tuple(r.__data__.get(name) for name in names) for r in drawn.values()]
        inserted = (
            CouponCode.insert_many(rows, fields=[CouponCode._meta.fields[name] for name in names])
            .on_conflict_ignore()
            .returning(CouponCode.id, CouponCode.code)
            .execute()
        )
        for row in inserted:
            record = drawn.pop(row.code)
            record.id = row.id
            records.append(record)
        if not drawn:
            return sorted(records, key=lambda r: r.id)
        waiting = [r.customer_id for r in drawn.values()]
    raise APIError(500, f"Could not draw unused coupon codes in {CODE_ATTEMPTS} attempts.")
