"""Strict department isolation of medical records: the rule behind ``crm_permission_filter`` and
``crm_permission_check``.

A medical record is read only inside its treating department (``department_id``), or inside
the reader's department tree when ``MEDICAL_DEPARTMENT_TREE`` is on, whatever scope the reader's
roles grant (a department_tree, ``all`` or admin grant does not widen it). A reader without a
department reads none. The one way around it is a break-glass grant
(:mod:`crm_medical.breakglass`), read through its own path, never through these queries: a
plugin filter may only narrow what the core's row scope allows, and the scope of clinicians
stays their department so that nothing else (events, webhooks) reaches further either.

Because the rule is a SQL condition AND-ed into every query the core's read decision bounds
(lists, detail, search, export, counts, the workbench's generic pages, timelines), no read path
can skip it; the views never test it themselves.
"""

from __future__ import annotations

import peewee as pw
from flask import current_app

from crm_core.plugin_api import department_subtree

from .models import RECORDS, MedicalRecord


def departments_of(actor):
    """The treating departments whose records ``actor`` reads in the normal course: a value or a
    subquery of ids; None when the actor has no department."""
    department_id = getattr(actor, "department_id", None)
    if department_id is None:
        return None
    if not current_app.config.get("MEDICAL_DEPARTMENT_TREE"):
        return department_id
    subtree = department_subtree(department_id)
    return department_id if subtree is None else subtree


def in_department(actor, column):
    """The SQL condition: ``column`` (a treating department) is one ``actor`` reads normally."""
    area = departments_of(actor)
    if area is None:
        return None
    return column.in_(area) if isinstance(area, pw.Query) else column == area


def record_filter(actor):
    """The isolation condition on ``MedicalRecord`` for ``actor``."""
    own = in_department(actor, MedicalRecord.department_id)
    return own if own is not None else pw.SQL("1 = 0")


def permission_filter(actor, action: str, model, resource: str):
    """``crm_permission_filter``: the isolation condition for the records' own model."""
    if resource != RECORDS or model is not MedicalRecord:
        return None
    return record_filter(actor)


def in_area(actor, department_id) -> bool:
    """True when ``department_id`` is a treating department ``actor`` reads and writes normally."""
    if department_id is None or getattr(actor, "department_id", None) is None:
        return False
    if department_id == actor.department_id:
        return True
    if not current_app.config.get("MEDICAL_DEPARTMENT_TREE"):
        return False
    area = departments_of(actor)
    if not isinstance(area, pw.Query):
        return department_id == area
    return department_id in {row[0] for row in area.tuples()}


def permission_check(actor, action: str, resource: str, record):
    """``crm_permission_check``: a record is changed, deleted or exported only by someone of its
    treating department. Queries already leave such records out (:func:`permission_filter`);
    this is the same rule for a record a caller holds in hand."""
    if resource != RECORDS or action == "read" or not isinstance(record, MedicalRecord):
        return None
    return None if in_area(actor, record.department_id) else False
