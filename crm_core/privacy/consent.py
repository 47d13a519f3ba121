"""Consent records (FHIR Consent, kept simple): who agreed to what, on which legal basis, how we
know, and the history of it.

Public, for the messaging and automation paths (and any plugin, through ``crm_core.plugin_api``
if it re-exports it):

- ``has_consent(customer, purpose) -> bool``: True when the *latest* record for ``customer`` (a
  ``Customer`` or its id) and ``purpose`` (``"marketing"``...) has status ``given``; False when it
  is ``withdrawn`` or when there is no record at all (no consent is never assumed). Call it right
  before sending or processing, not once per campaign: a withdrawal takes effect at once
  (GDPR Art. 7(3); PIPL Art. 15). One indexed query.
- ``record_consent(customer, actor, purpose, status, ...)``: a new record (records are never
  edited: a withdrawal is a new ``withdrawn`` record, so the history stays provable, GDPR Art.
  7(1)); audited (``consent_recorded`` on the customer, without the evidence).
- ``consents_of(customer)``: the history, newest first (also in the privacy export).
"""

from __future__ import annotations

from ..audit import record_event
from ..db import database, utcnow
from ..entities.models import Customer
from .models import GIVEN, ConsentRecord


def _customer_id(customer) -> int:
    return customer.id if isinstance(customer, Customer) else int(customer)


def latest(customer, purpose: str) -> ConsentRecord | None:
    """The record that holds for ``customer`` and ``purpose`` now (the latest), or None."""
    return (
        ConsentRecord.select()
        .where(ConsentRecord.customer == _customer_id(customer), ConsentRecord.purpose == purpose)
        .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        .first()
    )


def has_consent(customer, purpose: str) -> bool:
    """True when the latest consent record of ``customer`` for ``purpose`` is ``given``."""
    record = latest(customer, purpose)
    return record is not None and record.status == GIVEN


def consents_of(customer) -> list[ConsentRecord]:
    """Every consent record of ``customer``, newest first."""
    return list(
        ConsentRecord.select()
        .where(ConsentRecord.customer == _customer_id(customer))
        .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
    )


def consent_dict(record: ConsentRecord) -> dict:
    """The JSON image of one record (API, export)."""
    return {
        "id": record.id,
        "customer_id": record.customer_id,
        "purpose": record.purpose,
        "legal_basis": record.legal_basis,
        "status": record.status,
        "source": record.source,
        "recorded_at": record.recorded_at,
        "recorded_by_id": record.recorded_by_id,
        "evidence": record.evidence,
    }


def record_consent(
    customer: Customer,
    actor,
    purpose: str,
    status: str,
    legal_basis: str = "consent",
    source: str = "other",
    evidence: str = "",
    recorded_at=None,
) -> ConsentRecord:
    """Append one consent record for ``customer`` (validated by the caller), audited with its
    purpose, status, basis and source (the evidence text stays out of the audit log)."""
    with database.atomic():
        record = ConsentRecord.create(
            customer=customer,
            purpose=purpose,
            legal_basis=legal_basis,
            status=status,
            source=source,
            evidence=evidence or "",
            recorded_at=recorded_at or utcnow(),
            recorded_by_id=getattr(actor, "id", None),
        )
        summary = {"purpose": purpose, "status": status, "legal_basis": legal_basis, "source": source}
        record_event(actor, "consent_recorded", "customers", customer.id, summary, record=customer)
    return record
