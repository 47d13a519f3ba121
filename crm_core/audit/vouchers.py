"""How ``verify`` accepts version-1 entries that were redacted: the ``redact`` anchors' vouchers.

A version-2 entry keeps its hash when a value becomes a redaction marker (``hashing``). A
version-1 or legacy entry hashes its stored texts, so redacting it changes what it hashes to;
``crm_core.audit.redaction`` then appends a ``redact`` anchor (keyed and chained like every
entry) whose ``after`` holds ``{"vouch": {seq: voucher_digest}}`` for each such entry. An entry
whose hash no longer matches is still intact when the newest anchor after it vouches for
exactly its current content (``hashing.voucher_digest``): forging or editing a voucher needs
the audit key, and the anchor's own hash covers it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from .hashing import voucher_digest
from .models import AuditEntry


def redaction_vouchers(key: bytes) -> Callable[[AuditEntry], bool]:
    """A predicate: does a sealed ``redact`` anchor vouch for this entry's current content?"""
    vouchers: dict[int, str] = {}
    anchors = (
        AuditEntry.select()
        .where(AuditEntry.kind == "anchor", AuditEntry.action == "redact", AuditEntry.seq.is_null(False))
        .order_by(AuditEntry.seq)
    )
    for anchor in anchors:
        try:
            vouch = json.loads(anchor.after or "{}").get("vouch") or {}
        except (ValueError, AttributeError):
            continue
        for seq, digest in vouch.items():
            if str(seq).isdigit() and int(seq) < anchor.seq and isinstance(digest, str):
                vouchers[int(seq)] = digest  # a later redaction of the same entry wins

    def vouched(row: AuditEntry) -> bool:
        digest = vouchers.get(row.seq)
        return digest is not None and hmac.compare_digest(digest, voucher_digest(row, key))

    return vouched
