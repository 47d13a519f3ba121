"""The read audit of one patient (``/medical/patients/<id>/audit``): who read which of their
records, when, how and why, break-glass reads marked, newest first, a page at a time.

It lists the core's audit entries (``audit_entries``: the rules of ``GET /audit``, so only a
role with ``audit:read`` sees it, a department head the entries of their department tree, an
admin every one) of kind ``read`` on medical records that are about the patient or name them
among the patients of a list, search or export.
"""

from __future__ import annotations

from flask import abort, render_template, request

from crm_core.plugin_api import (
    Customer,
    audit_entries,
    can,
    get_record,
    login_required,
    mask,
    page_params,
    web_actor,
)

from .models import RECORDS, MedicalRecord
from .web import blp

PAGE_SIZE = 25


def entries_of(actor, customer_id: int, page: int, page_size: int = PAGE_SIZE):
    """``(rows, total)``: one page of the read-audit entries naming the patient, as the template
    shows them."""
    entries, total = audit_entries(
        actor,
        RECORDS,
        kind="read",
        record_id=customer_id,
        mentions=("patients", customer_id),
        page=page,
        page_size=page_size,
    )
    # a list read names the records of every patient on the page: show only this patient's
    theirs = {
        r
        for (r,) in MedicalRecord.select(MedicalRecord.id)
        .where(MedicalRecord.customer == customer_id)
        .tuples()
    }
    rows = []
    for entry in entries:
        after = entry.get("after") or {}
        glass = after.get("break_glass") or {}
        rows.append(
            {
                "id": entry["id"],
                "at": entry["occurred_at"],
                "who": entry.get("actor_name") or entry.get("actor_id"),
                "path": after.get("path", ""),
                "purpose": after.get("purpose", ""),
                "records": [r for r in after.get("records", []) if r in theirs],
                "record_count": after.get("record_count", 0),
                "patient_count": after.get("patient_count", 1),
                "break_glass": bool(glass),
                "grants": glass.get("grants", []),
                "ip": entry.get("ip"),
            }
        )
    return rows, total


@blp.route("/patients/<int:customer_id>/audit")
@login_required
def patient_audit(customer_id):
    """Who read the patient's records (``?page=``); 403 without ``audit:read``."""
    actor = web_actor()
    if not can(actor, "audit", "read"):
        abort(403)
    customer = get_record(Customer, customer_id, actor, "customers")
    page, _size = page_params(request.args)
    rows, total = entries_of(actor, customer.id, page)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "medical/audit.html",
        customer=customer,
        name=mask(actor, "customers", {"id": customer.id, "name": customer.name}).get("name"),
        rows=rows,
        total=total,
        page=min(page, pages),
        pages=pages,
    )
