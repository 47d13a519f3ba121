"""Field values as envelope tokens: any JSON value in, a token out, and the way back.

A value is sealed as its JSON text, so an encrypted int, date or multi-choice field reads back as
the same value. The context of a record's field is ``<resource>/<record id>/<field>``
(:func:`context`): a token copied to another row or field does not open.
"""

from __future__ import annotations

import json
from typing import Any

from .ciphers import DecryptionError
from .envelope import decrypt, encrypt, is_token, subject_of
from .keyring import KeyRingError, prefetch_subjects


def context(resource: str, record_id, field: str) -> str:
    """The associated data naming one field of one record (``customers/12/id_number``)."""
    return f"{resource}/{record_id}/{field}"


def seal_value(value: Any, ctx: str, subject: str | None = None) -> str:
    """The token of a JSON-ready ``value`` for ``ctx``, bound to ``subject`` when given."""
    return encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True), ctx, subject=subject)


def open_value(token: str, ctx: str) -> Any:
    """The value sealed in ``token``; raises ``DecryptionError`` (changed, moved) or
    ``KeyRingError`` (its key retired, or its person's key shredded)."""
    return json.loads(decrypt(token, ctx))


def readable(token: str, ctx: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``token`` opens, ``(False, None)`` when it cannot: its person's key
    was shredded (erasure), its key retired, or it was tampered with. Reads never fail on it."""
    try:
        return True, open_value(token, ctx)
    except (DecryptionError, KeyRingError, ValueError):
        return False, None


def prefetch(items) -> None:
    """Before revealing a page of dumped records: load the keys of every person their tokens are
    bound to, in one query."""
    subjects = set()
    for item in items:
        values = item.get("custom") if isinstance(item, dict) else None
        if isinstance(values, dict):
            subjects.update(subject_of(v) for v in values.values() if is_token(v) and v.startswith("crm1s."))
    if subjects:
        prefetch_subjects(subjects)


def reveal(resource: str, data: dict) -> dict:
    """A copy of a dumped record ``data`` whose ``custom`` tokens are replaced by their values
    (None where a token no longer opens). ``data`` must carry the record's ``id``; without
    tokens it is returned as it is. Callers have already removed what the reader may not see."""
    values = data.get("custom")
    if not isinstance(values, dict) or not any(is_token(v) for v in values.values()):
        return data
    record_id = data.get("id")
    opened = {}
    for name, value in values.items():
        opened[name] = readable(value, context(resource, record_id, name))[1] if is_token(value) else value
    return {**data, "custom": opened}
