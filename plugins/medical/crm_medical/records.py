"""The medical records collection: the write path's steps and what its images carry.

Isolation is not here: the permission hooks (:mod:`crm_medical.isolation`) bound every query and
action. This module holds what is particular to writing a record (the treating department is
the writer's own, the patient consented to treatment, the revision counts clinical changes) and
the image the audit log and events carry, which never holds the clinical texts: an event reaches
webhooks and automations, whose owners' department is not the record's.
"""

from __future__ import annotations

import json

from flask import current_app
from flask_babel import gettext as _
from marshmallow import ValidationError

from crm_core.plugin_api import APIError, Customer, current_actor, record_dict

from .isolation import in_area
from .patients import require_treatment_consent
from .schemas import MedicalAttachmentSchema
from .templates import ATTACHMENTS, SEALED_FIELDS

_attachments_schema = MedicalAttachmentSchema(many=True)


def attachments_text(items) -> str:
    """The stored form of attachment metadata (``custom.attachments``): the JSON text of the
    validated list, sealed by the core like the clinical texts."""
    return json.dumps(_attachments_schema.dump(items), ensure_ascii=False, sort_keys=True)


def with_attachments(data: dict) -> dict:
    """The write's ``data`` with a top-level ``attachments`` list (validated by the schema) moved
    into the encrypted ``custom.attachments``: the core seals what is in ``custom``."""
    if "attachments" not in data:
        return data
    data = dict(data)
    items = data.pop("attachments")
    data["custom"] = {**(data.get("custom") or {}), ATTACHMENTS: attachments_text(items or [])}
    return data


def attachments_of(custom: dict | None) -> list[dict]:
    """The attachment metadata of a dumped record (its ``custom``, already opened for the
    reader); ``[]`` when none or unreadable."""
    text = (custom or {}).get(ATTACHMENTS)
    if not text:
        return []
    try:
        items = json.loads(text)
    except ValueError:
        return []
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _check_attachments(data: dict) -> None:
    text = (data.get("custom") or {}).get(ATTACHMENTS)
    if text is None:
        return
    try:
        _attachments_schema.load(json.loads(text))
    except (ValueError, TypeError, ValidationError):
        raise APIError(
            422,
            _("Invalid attachment metadata."),
            errors={f"custom.{ATTACHMENTS}": [_("A JSON list of files, each with a name.")]},
        ) from None


def image(record) -> dict:
    """The record as the audit log and events see it: its columns and non-clinical custom values;
    a change of the clinical texts shows as a new ``revision`` (the texts themselves stay in the
    record, encrypted, read only inside the department)."""
    data = record_dict(record)
    data["custom"] = {k: v for k, v in (data.get("custom") or {}).items() if k not in SEALED_FIELDS}
    return data


def before_save(record, data: dict, before: dict | None, actor=None) -> None:
    """Create: the treating department must be the writer's own (or in their tree when
    ``MEDICAL_DEPARTMENT_TREE``), the doctor defaults to the writer, and the patient must have
    consented to treatment (``MEDICAL_REQUIRE_TREATMENT_CONSENT``). Update: a change of the
    clinical texts bumps ``revision``. ``actor``: the writer, the request's by default (the
    write path hands this step none; jobs and demo data pass theirs with ``functools.partial``)."""
    actor = actor if actor is not None else current_actor()
    _check_attachments(data)
    if before is None:
        if not in_area(actor, record.department_id):
            raise APIError(
                403,
                _("A medical record is written in your own department."),
                errors={"department_id": [_("Not a department you treat in.")]},
            )
        if record.doctor_id is None:
            record.doctor_id = actor.id
        if record.visit_type == "inpatient" and record.discharged_at is not None:
            _check_stay(record)
        customer = Customer.get_by_id(record.customer_id)
        require_treatment_consent(customer, bool(current_app.config.get("MEDICAL_REQUIRE_TREATMENT_CONSENT")))
        return
    _check_stay(record)
    if set(SEALED_FIELDS) & set(data.get("custom") or {}):
        record.revision = (record.revision or 1) + 1


def _check_stay(record) -> None:
    if (
        record.discharged_at is not None
        and record.visit_at is not None
        and record.discharged_at < record.visit_at
    ):
        raise APIError(
            422,
            _("The discharge cannot come before the admission."),
            errors={"discharged_at": [_("Before visit_at.")]},
        )
