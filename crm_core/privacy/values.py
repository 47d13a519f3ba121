"""What identifies a person, for the erasure to look for: their values now and in the history.

``person_values(customer) -> (identifiers, values)``:

- ``identifiers``: their phone numbers (as stored, E.164, and as people type them: without ``+``,
  the last ten digits) and e-mail addresses, now and as the audit log remembers them, plus the
  values of their custom ``phone``/``email`` fields. Unique to the person (the customer columns
  are unique), so the erasure redacts them wherever they appear in the audit log.
- ``values``: those, their names now and before, and the texts of their custom ``string``,
  ``text`` and ``url`` fields (encrypted ones opened: a decrypted copy, an export file, holds the
  plaintext), at least ``CUSTOM_MIN_LENGTH`` characters long. Choice, number, date and boolean
  fields are left out: their values are categories shared by many people ("gold", "Beijing"),
  and looking for them would scrub other people's copies.
"""

from __future__ import annotations

import json

from ..audit.models import AuditEntry
from ..crypto.values import reveal
from ..custom.fielddefs import custom_fields
from ..entities.models import Customer
from ..records import service

CUSTOM_MIN_LENGTH = 4
_TEXT_TYPES = ("string", "text", "url")
_IDENTIFIER_TYPES = {"phone": "phone", "email": "email"}


def phone_forms(phone: str) -> set[str]:
    """A phone number as stored and as people type it (without ``+``; its last ten digits, the
    national number of most plans without a trunk prefix)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    forms = {phone, digits}
    if len(digits) >= 10:
        forms.add(digits[-10:])
    return {f for f in forms if f}


def _history(customer: Customer) -> list[dict]:
    """The customer's images in the audit log (their earlier names, phones, e-mails...)."""
    entries = AuditEntry.select(AuditEntry.before, AuditEntry.after).where(
        AuditEntry.resource == "customers", AuditEntry.record_id == str(customer.id)
    )
    images = []
    for entry in entries:
        for text in (entry.before, entry.after):
            try:
                data = json.loads(text) if text else None
            except ValueError:
                continue
            if isinstance(data, dict):
                images.append(data)
    return images


def person_values(customer: Customer) -> tuple[set[str], set[str]]:
    """``(identifiers, values)`` of ``customer`` (see the module)."""
    types = {fd.name: fd.type for fd in custom_fields("customers")}
    identifiers: set[str] = set()
    values: set[str] = set()
    for image in [service.record_dict(customer), *_history(customer)]:
        if isinstance(image.get("phone"), str):
            identifiers |= phone_forms(image["phone"])
        if isinstance(image.get("email"), str):
            identifiers.add(image["email"])
        if isinstance(image.get("name"), str):
            values.add(image["name"])
        custom = image.get("custom")
        if not isinstance(custom, dict):
            continue
        opened = reveal("customers", {"id": customer.id, "custom": custom})["custom"]
        for name, value in opened.items():
            kind = types.get(name)
            if not isinstance(value, str) or not value.strip():
                continue
            if kind == "phone":
                identifiers |= phone_forms(value)
            elif kind == "email":
                identifiers.add(value)
            elif kind in _TEXT_TYPES and len(value.strip()) >= CUSTOM_MIN_LENGTH:
                values.add(value)
    return identifiers, values | identifiers
