"""``crm demo-data --audit``: the demo's bulk-inserted records reported as ``create`` changes.

Without ``--audit`` the demo writes no audit entries (seed data, see :mod:`crm_core.demo.customers`).
With it, every customer and every core record the demo inserts gets the ``create`` entry an
import gives its rows (``crm_core.transfer.customers``): ``after`` is the record as the write path
dumps it (a customer with its tags), ``extra`` ``{"source": "demo"}``, and the entries of a chunk
go in through ``changes.batched()`` as one multi-row insert, sealed into the hash chain like any
other entry. So the audit screens show a log that looks like a real one, and a load test runs
with the audit cost a real write pays.

No outbox event is written for them (``"event": False``): the outbox would deliver
``customer.created`` for every seeded row to whatever webhooks and automation rules are
subscribed, and seed data is not something that happened to a customer. The entries carry no
actor: the command line wrote them (``client_id`` ``cli``), as it did the demo people's.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..changes import batched, record_written
from ..entities.models import Customer
from ..records.service import record_dict, to_json

#: the ``extra`` of every demo change: where it came from, and no outbox event (see above)
DEMO_EXTRA = {"source": "demo", "event": False}
#: ids per ``IN (...)`` when records are read back for their image
READ_BACK = 1000


def report_customers(
    fields: Sequence[str], rows: Sequence[tuple], ids: list[int], tags: dict[int, list[str]]
) -> None:
    """Report the customers one bulk insert made (``rows`` in ``fields`` order, ``ids`` the new
    ids; ``tags``: customer id -> tag names) as one batch of creates. Call in the insert's
    transaction. ``after`` is built from the inserted values, as the import does, so a chunk costs
    no read back; when the insert skipped rows that hit a unique phone or e-mail (fewer ids than
    rows), the rows that went in are found by their e-mail, which every demo customer has."""
    if not ids:
        return
    pairs = zip(ids, rows, strict=True) if len(ids) == len(rows) else _inserted(fields, rows, ids)
    with batched():
        for record_id, row in pairs:
            after = {**to_json(dict(zip(fields, row, strict=True))), "id": record_id}
            after["tags"] = sorted(tags.get(record_id, ()))
            record_written("create", "customers", None, None, None, after, DEMO_EXTRA, record_id)


def _inserted(fields: Sequence[str], rows: Sequence[tuple], ids: list[int]):
    """(id, row) of the rows an insert that ignored conflicts did make."""
    email = list(fields).index("email")
    by_email = {row[email]: row for row in rows}
    found = []
    for start in range(0, len(ids), READ_BACK):
        query = Customer.select(Customer.id, Customer.email).where(
            Customer.id.in_(ids[start : start + READ_BACK])
        )
        found += [(cid, by_email[mail]) for cid, mail in query.tuples() if mail in by_email]
    return sorted(found, key=lambda pair: pair[0])


def report_created(resource: str, model, ids: Sequence[int]) -> None:
    """Report the ``model`` rows with ``ids`` (just bulk-inserted) as creates of ``resource``,
    each with its stored columns as ``record_dict`` dumps them (what the write path's audit image
    of a company, contact, deal, ticket or activity is). Call in the insert's transaction, inside
    a ``batched()`` block to have several kinds go in as one batch (else they are one of their
    own). Read back in slices of ``READ_BACK`` ids: the demo's related records are a few thousand."""
    with batched():
        for start in range(0, len(ids), READ_BACK):
            query = model.select().where(model.id.in_(list(ids[start : start + READ_BACK])))
            for record in query.order_by(model.id):
                record_written("create", resource, record, None, None, record_dict(record), DEMO_EXTRA)
