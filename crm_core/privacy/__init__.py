"""Privacy (GDPR / PIPL): export everything about a person, and erase it, across core and plugins.

- ``export_customer(customer, actor)`` -> a JSON-ready document: the customer, their contacts,
  deals, activities, tickets, tags and consent records, and under ``plugins`` whatever each
  plugin's ``crm_export_customer`` returns. Each part is what ``actor`` may read of its own
  resource (``permissions.view``: rows outside the scope and resources without a read grant left
  out, hidden fields removed). The read is audited.
- ``erase_customer(customer, actor)`` anonymises the customer in one transaction, so that no
  plaintext of the person is left in the database (tests/test_privacy_erasure_plaintext.py):

  - personal fields cleared through the core write path (the audit log and events record it),
    activities and company links deleted, ticket titles and texts erased, tags removed, deal
    titles stripped of the person's values, consent evidence blanked, kept exports of their
    privacy requests dropped and the requests' notes scrubbed, and every plugin's
    ``crm_erase_customer`` called (one raising aborts everything);
  - the audit log's before/after images redacted (``crm_core.audit.redact``: the chain still
    verifies): the person's fields in the entries of the customer and of their activities,
    tickets and deals, and their phone numbers and e-mail addresses wherever they appear;
  - the copies in other stores scrubbed (``crm_core.privacy.scrub``: events, webhook
    deliveries, tasks and their files, import uploads, stored idempotent responses, automation
    and job runs);
  - the person's subject key shredded (``crm_core.crypto.keyring.shred("customers/<id>")``):
    whatever was encrypted for them, anywhere, backups included, is unreadable from then on.

  Deals stay (business records a company must keep, e.g. for tax law) but point at the
  anonymised person; the customer row stays as ``Erased customer <id>``. Emits
  ``customer.erased`` with the counts.
- Tracked requests (``crm_core.privacy.requests``) and consent records
  (``crm_core.privacy.consent``, with ``has_consent(customer, purpose)``).
"""

from __future__ import annotations

from flask import current_app

from .. import permissions
from ..audit import record_event, redact
from ..crypto import keyring
from ..db import database, utcnow
from ..entities.models import Activity, Contact, Customer, CustomerTag, Deal, Tag, Ticket
from ..events import emit
from ..records import service
from .consent import consent_dict, consents_of
from .models import ConsentRecord, PrivacyRequest
from .scrub import ERASED, Needles, scrub_copies
from .values import person_values

FORMAT = "crm-core.privacy-export/1"
ERASED_FIELDS = {"phone": None, "email": None, "gender": None, "birthday": None, "source_channel": None}
#: free texts of the person's activities and tickets at least this long are looked for whole in
#: the stores that copy data (shorter ones, "called", would match other people's copies)
TEXT_MIN_LENGTH = 8
#: the customer's fields that are the person's (redacted whole in the customer's audit entries)
PERSONAL_FIELDS = frozenset({*ERASED_FIELDS, "name", "custom", "tags"})


def _rows(actor, resource: str, query) -> list[dict]:
    """The rows of ``query`` that ``actor`` may read as ``resource``, masked (none without a grant)."""
    view = permissions.view(actor, resource)
    if not view.allowed:
        return []
    return view.dump([service.record_dict(row) for row in view.apply(query)])


def export_customer(customer: Customer, actor) -> dict:
    """Everything crm-core and its plugins store about ``customer``, as one JSON-ready document."""

    plugins = dict(current_app.extensions["crm"].plugins.calls("crm_export_customer", customer=customer))
    customers = permissions.view(actor, "customers")
    tags = Tag.select().join(CustomerTag).where(CustomerTag.customer == customer)
    document = {
        "format": FORMAT,
        "generated_at": service.to_json(utcnow()),
        "customer": customers.dump(service.record_dict(customer)),
        "contacts": _rows(actor, "contacts", Contact.select().where(Contact.customer == customer)),
        "deals": _rows(actor, "deals", Deal.select().where(Deal.customer == customer)),
        "activities": _rows(actor, "activities", Activity.select().where(Activity.customer == customer)),
        "tickets": _rows(actor, "tickets", Ticket.select().where(Ticket.customer == customer)),
        "tags": [t.name for t in tags] if customers.visible("tags") else [],
        "consents": _consents(customer, customers),
        "plugins": plugins,
    }
    record_event(actor, "read", "customers", customer.id, {"export": FORMAT}, record=customer)
    return document


def _consents(customer: Customer, customers) -> list[dict]:
    """The consent history, for whoever may read the customer at all."""
    if not customers.allowed:
        return []
    return [{**consent_dict(c), "recorded_at": service.to_json(c.recorded_at)} for c in consents_of(customer)]


def _ids(query) -> list[int]:
    return [row.id for row in query]


def erase_customer(customer: Customer, actor) -> dict:
    """Anonymise ``customer`` everywhere (see the module); returns counts of what was erased.
    All or nothing."""

    with database.atomic():
        identifiers, values = person_values(customer)
        activities = list(Activity.select().where(Activity.customer == customer))
        contacts = _ids(Contact.select(Contact.id).where(Contact.customer == customer))
        tickets = list(Ticket.select().where(Ticket.customer == customer))
        # the person's own texts, whole, for the copies (a stored response, a file)
        texts = [a.subject for a in activities] + [a.body for a in activities]
        texts += [t.title for t in tickets] + [t.description for t in tickets]
        texts = {t for t in texts if t and len(t.strip()) >= TEXT_MIN_LENGTH}
        needles = Needles(values | texts, anchors=identifiers)
        deals = list(Deal.select(Deal.id, Deal.title).where(Deal.customer == customer))
        counts = {
            "activities": Activity.delete().where(Activity.customer == customer).execute(),
            "contacts": Contact.delete().where(Contact.customer == customer).execute(),
            "tags": CustomerTag.delete().where(CustomerTag.customer == customer).execute(),
            "tickets": Ticket.update(title=ERASED, description="")
            .where(Ticket.customer == customer)
            .execute(),
        }
        for deal in deals:
            if needles.found_in(deal.title):
                Deal.update(title=needles.text(deal.title)).where(Deal.id == deal.id).execute()
        cleared_custom = {key: None for key in (customer.custom or {})}
        fields = {**ERASED_FIELDS, "custom": cleared_custom, "name": f"Erased customer {customer.id}"}
        service.update("customers", customer, fields, actor)
        current_app.extensions["crm"].plugins.hook.crm_erase_customer(customer=customer)
        counts["consents"] = (
            ConsentRecord.update(evidence="").where(ConsentRecord.customer == customer).execute()
        )
        _scrub_requests(customer, needles)
        linked = {
            "activities": activities,
            "contacts": contacts,
            "tickets": tickets,
            "deals": [d.id for d in deals],
        }
        counts["audit_entries"] = _redact_audit(customer, identifiers, values, linked)
        for store, count in scrub_copies(customer.id, needles).items():
            counts[store] = count
        counts["subject_key"] = int(keyring.shred(f"customers/{customer.id}"))
        emit(
            "customer.erased",
            {
                "id": customer.id,
                "erased": counts,
                "owner_id": customer.owner_id,
                "department_id": customer.department_id,
            },
            actor=actor,
            resource="customers",
            record_id=customer.id,
        )
    return counts


def _scrub_requests(customer: Customer, needles: Needles) -> None:
    """The customer's privacy requests keep what was asked and done, not the person: kept
    exports are dropped, notes (free text about the person) erased, reasons scrubbed."""
    for request in PrivacyRequest.select().where(PrivacyRequest.customer == customer):
        PrivacyRequest.update(
            result=None if request.kind in ("access", "portability") else request.result,
            notes=ERASED if request.notes else "",
            rejection_reason=needles.text(request.rejection_reason),
            extension_reason=needles.text(request.extension_reason),
            error=needles.text(request.error),
        ).where(PrivacyRequest.id == request.id).execute()


def _redact_audit(customer, identifiers, values, linked: dict[str, list[int]]) -> int:
    """Redact the person from the audit log; returns how many entries changed."""
    text_fields = {"activities": {"subject", "body", "custom"}, "tickets": {"title", "description", "custom"}}
    changed = redact(identifiers)
    changed += redact(values, resource="customers", record_id=customer.id, fields=PERSONAL_FIELDS)
    for resource, ids in linked.items():
        changed += redact(values, resource=resource, record_id=ids, fields=text_fields.get(resource, ()))
    return changed
