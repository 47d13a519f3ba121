"""The read audit of clinical data: one semantic entry per read, never one per row or query.

Each entry (``record_event``, kind ``read``, resource ``medical.records``) says who read, how
(``path``: list, search, detail, export, timeline), which patients and records, why
(``purpose``, an HL7 v3 PurposeOfUse code: ``TREAT`` by default, the reader may say
``HPAYMT``, ``HOPERAT`` or ``PATRQT``; ``BTG`` whenever a break-glass grant opened a row) and
under which grants. Values never go into it, only ids and codes.

The entry is written where every dump of the records collection passes: the collection's
``prefetch`` step, which ``Crud.dump`` calls for the API's list and detail, the workbench's
generic pages and their export alike, so a read path added later is audited without knowing it.
The plugin's own paths (export, timeline) dump once and name themselves with :func:`reading`.
"""

from __future__ import annotations

from contextlib import contextmanager

from flask import g, has_request_context, request

from crm_core.plugin_api import current_actor, is_read_request, record_event, utcnow

from .isolation import in_area
from .models import RECORDS, BreakGlass

#: PurposeOfUse codes a reader may state with ``?purpose=`` (HL7 v3 ActReason)
PURPOSES = ("TREAT", "HPAYMT", "HOPERAT", "PATRQT")
DEFAULT_PURPOSE = "TREAT"
BREAK_GLASS = "BTG"
#: most ids an entry lists; a bigger read (an export) also gives the counts
MAX_IDS = 1000
_LIST_ARGS = frozenset({"page", "page_size", "sort", "purpose", "fields"})


@contextmanager
def reading(path: str):
    """Name the read path of the dumps made inside the block (``export``, ``timeline``)."""
    previous = g.get("medical_read_path")
    g.medical_read_path = path
    try:
        yield
    finally:
        g.medical_read_path = previous


def _path() -> str:
    named = g.get("medical_read_path")
    if named:
        return named
    if (request.endpoint or "").startswith("graphql."):
        return "graphql"
    endpoint = request.endpoint or ""
    if "export" in endpoint:
        return "export"
    if endpoint.endswith("_item") or endpoint.endswith("record_detail") or endpoint.endswith("record_edit"):
        return "detail"
    searching = "q" in request.args or any(k not in _LIST_ARGS for k in request.args)
    return "search" if searching else "list"


def purpose_of_request() -> str:
    """The purpose the reader stated (``?purpose=``), else ``TREAT``; unknown codes count as
    ``TREAT`` rather than failing a clinician's read."""
    stated = (request.args.get("purpose") or "").upper() if has_request_context() else ""
    return stated if stated in PURPOSES else DEFAULT_PURPOSE


def audit_rows(rows) -> None:
    """The records collection's ``prefetch`` step: audit the dump of ``rows`` as one read.

    Dumps that answer a write (the record echoed after create or update) are not reads: the
    write's own audit entry covers them."""
    # GraphQL queries are reads sent by POST: is_read_request knows them
    if not rows or not has_request_context() or not is_read_request():
        return
    audit_read(current_actor(required=False), rows, _path())


def audit_read(actor, rows, path: str, purpose: str | None = None):
    """Write the one audit entry of ``actor`` reading ``rows`` (medical records) by ``path``."""
    rows = list(rows)
    patients = sorted({r.customer_id for r in rows})
    normal = {d: in_area(actor, d) for d in {r.department_id for r in rows}}  # one ask per department
    by_grant = [r for r in rows if not normal[r.department_id]]
    grants = _grants(actor, by_grant)
    departments = sorted({r.department_id for r in rows if r.department_id is not None})
    extra = {
        "path": path,
        "purpose": BREAK_GLASS if by_grant else (purpose or purpose_of_request()),
        "patients": patients[:MAX_IDS],
        "records": sorted(r.id for r in rows)[:MAX_IDS],
        "patient_count": len(patients),
        "record_count": len(rows),
        "departments": departments,
    }
    if by_grant:
        extra["break_glass"] = {"records": sorted(r.id for r in by_grant)[:MAX_IDS], "grants": grants}
    # the entry carries the department when there is one, so that department's head reads it
    ownership = {"owner_id": None, "department_id": departments[0] if len(departments) == 1 else None}
    return record_event(
        actor,
        "read",
        RECORDS,
        record_id=patients[0] if len(patients) == 1 else None,
        extra=extra,
        record=ownership,
    )


def _grants(actor, rows) -> list[int]:
    if not rows or getattr(actor, "id", None) is None:
        return []
    pairs = {(r.customer_id, r.department_id) for r in rows}
    query = BreakGlass.select(BreakGlass.id, BreakGlass.customer, BreakGlass.department_id).where(
        BreakGlass.owner_id == actor.id,
        BreakGlass.customer.in_(sorted({p[0] for p in pairs})),
        BreakGlass.expires_at > utcnow(),
    )
    return sorted(grant.id for grant in query if (grant.customer_id, grant.department_id) in pairs)
