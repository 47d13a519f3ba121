"""The privacy tables: tracked requests of data subjects, and consent records.

Neither is a business record with an owner: who may see a row follows from who may read its
customer (``crm_core.privacy.requests``, ``crm_core.privacy.consent``).
"""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel, utcnow
from ..entities.models import Customer

# request kinds (GDPR Art. 15 access, Art. 20 portability, Art. 17 erasure, Art. 16 rectification;
# PIPL Art. 45, 45, 47, 46)
ACCESS, PORTABILITY, ERASURE, RECTIFICATION = "access", "portability", "erasure", "rectification"
KINDS = (ACCESS, PORTABILITY, ERASURE, RECTIFICATION)
# request status: received -> in_progress -> completed | rejected | failed
RECEIVED, IN_PROGRESS, COMPLETED, REJECTED, FAILED = (
    "received",
    "in_progress",
    "completed",
    "rejected",
    "failed",
)
STATUSES = (RECEIVED, IN_PROGRESS, COMPLETED, REJECTED, FAILED)
OPEN_STATUSES = (RECEIVED, IN_PROGRESS)
CHANNELS = ("email", "phone", "web_form", "letter", "in_person", "api", "other")

# consent
PURPOSES = ("marketing", "analytics", "treatment", "third_party_sharing", "profiling", "research")
LEGAL_BASES = (
    "consent",  # GDPR Art. 6(1)(a); PIPL Art. 13(1)
    "contract",  # 6(1)(b); PIPL 13(2)
    "legal_obligation",  # 6(1)(c); PIPL 13(3)
    "vital_interest",  # 6(1)(d); PIPL 13(4) (public health emergencies, life and property)
    "public_task",  # 6(1)(e); PIPL 13(5) (news reporting and supervision in the public interest)
    "legitimate_interest",  # 6(1)(f): no PIPL equivalent
    "publicly_available",  # PIPL 13(6): information the person disclosed
    "employment",  # PIPL 13(2): human-resources management
)
GIVEN, WITHDRAWN = "given", "withdrawn"
CONSENT_STATUSES = (GIVEN, WITHDRAWN)
SOURCES = ("web_form", "import", "paper", "api", "phone", "in_person", "email", "other")


class PrivacyRequest(BaseModel):
    """One request of a data subject, from receipt to its answer.

    ``result`` holds the export document of an access/portability request once completed, until
    ``result_expires_at`` (``CORE_PRIVACY_EXPORT_HOURS``; the job ``core.privacy:exports`` clears
    it, an erasure of the customer clears it at once); for an erasure it holds the counts of what
    was erased, never values. ``customer`` is kept after an erasure: the request is the record that
    the erasure was done (the person is anonymised by then)."""

    kind = pw.CharField(max_length=20, index=True)
    customer = pw.ForeignKeyField(Customer, null=True, on_delete="SET NULL", backref="privacy_requests")
    status = pw.CharField(max_length=20, default=RECEIVED, index=True)
    requested_at = pw.DateTimeField(default=utcnow)
    due_at = pw.DateTimeField(index=True)
    channel = pw.CharField(max_length=20, default="other")
    notes = pw.TextField(default="")
    requested_by_id = pw.IntegerField(null=True)  # the user who logged the request
    handled_by_id = pw.IntegerField(null=True)  # the user who processed or rejected it
    started_at = pw.DateTimeField(null=True)
    completed_at = pw.DateTimeField(null=True)
    result = pw.TextField(null=True)  # JSON text (see above)
    result_expires_at = pw.DateTimeField(null=True)
    rejection_reason = pw.TextField(default="")
    error = pw.TextField(default="")
    # GDPR Art. 12(3): the month may be extended once, by up to two months, telling the person why
    extended_at = pw.DateTimeField(null=True)
    extension_reason = pw.TextField(default="")

    class Meta:
        table_name = "privacy_request"


class ConsentRecord(BaseModel):
    """One statement about a customer's consent to one purpose. Records are never changed: a
    withdrawal is a new record, and the latest (``recorded_at``, then ``id``) is what holds."""

    customer = pw.ForeignKeyField(Customer, on_delete="CASCADE", backref="consents")
    purpose = pw.CharField(max_length=64)
    legal_basis = pw.CharField(max_length=32, default="consent")
    status = pw.CharField(max_length=10)
    source = pw.CharField(max_length=20, default="other")
    recorded_at = pw.DateTimeField(default=utcnow)
    recorded_by_id = pw.IntegerField(null=True)
    evidence = pw.TextField(default="")

    class Meta:
        table_name = "privacy_consent"
        indexes = ((("customer", "purpose", "recorded_at"), False),)


MODELS = [PrivacyRequest, ConsentRecord]
