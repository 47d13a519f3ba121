"""What an audit entry's hash covers, in each version of the chain.

- **legacy** (``legacy_hash``): plain SHA-256 of the entry's payload, for chains sealed before the
  key existed (valid only up to a ``rekey`` anchor, see ``chain.adopt_legacy``).
- **version 1** (``hash_version`` NULL): HMAC-SHA256 under the audit key of the payload with the
  ``before``/``after`` JSON texts as stored.
- **version 2** (``hash_version`` 2, every entry sealed since redaction exists): the same, except
  that ``before`` and ``after`` are hashed as *trees of digests*: the JSON structure (keys, list
  positions) is kept and every leaf value is replaced by ``leaf_digest``, an HMAC under the audit
  key of the entry's ``seq``, the leaf's path and its canonical JSON. A leaf that was redacted is
  stored as ``{"$redacted": "<its digest>"}`` and hashes as that digest, so replacing a value by
  its redaction marker leaves the entry's hash, and the chain, intact
  (``crm_core.audit.redaction``), while changing any value, or forging a marker without the key,
  still breaks it. The digest is keyed and bound to ``seq`` and path: it says nothing about the
  value without the audit key, and equal values in two entries get different digests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from flask import current_app

_LABEL = b"crm-core audit chain v1"  # domain separation: the audit key is no other key
_KEYS: dict[tuple[str, str], tuple[bytes, str]] = {}

#: the hash version new entries are sealed with
CURRENT_VERSION = 2
#: the key of a redaction marker: ``{"$redacted": "<leaf digest>"}`` stands for the value it replaced
REDACTED = "$redacted"


def canonical(data) -> str | None:
    """The canonical JSON text of a before/after dict (what is stored and hashed)."""
    if data is None:
        return None
    return _CANONICAL(data)


# json.dumps's text with these options, from encoders built once (dumps builds one a call);
# tests/test_audit_hash_pins.py holds what they must keep giving
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode
_PAYLOAD = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def audit_key() -> tuple[bytes, str]:
    """This instance's chain key and its public id (16 hex digits): HMAC-SHA256 of a fixed label
    under ``AUDIT_KEY`` when set, else under ``SECRET_KEY``. Neither lives in the database."""
    config = current_app.config
    own, secret = config.get("AUDIT_KEY") or "", config.get("SECRET_KEY") or ""
    cached = _KEYS.get((own, secret))
    if cached is None:
        base = own or secret
        if not base:
            raise RuntimeError("the audit chain needs SECRET_KEY or AUDIT_KEY")
        key = hmac.new(base.encode(), _LABEL, hashlib.sha256).digest()
        key_id = hmac.new(key, b"key id", hashlib.sha256).hexdigest()[:16]
        cached = _KEYS[(own, secret)] = (key, key_id)
    return cached


def is_marker(value: Any) -> bool:
    """True for a redaction marker ``{"$redacted": "<64 hex digits>"}``."""
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get(REDACTED), str)
        and len(value[REDACTED]) == 64
    )


_SCALAR = json.JSONEncoder(ensure_ascii=False, default=str).encode  # json.dumps's text, cheaper
#: JSON leaves as json.loads gives them: digested without a call of digest_tree each
_LEAVES = frozenset({str, int, float, bool, type(None)})


class LeafHasher:
    """The leaf digests of one entry: HMAC-SHA256 under ``key`` of ``audit leaf|<seq>|<path>|``
    and the leaf's JSON text. The keyed state of the common prefix is computed once per entry
    and copied for each leaf (an entry has a dozen leaves; verify reads every entry)."""

    def __init__(self, key: bytes, seq: int):
        self.base = hmac.new(key, f"audit leaf|{seq}|".encode(), hashlib.sha256)

    def digest(self, path: str, value: Any) -> str:
        """The digest of the leaf ``value`` at ``path`` (``/custom/wechat``)."""
        h = self.base.copy()
        # a leaf is a JSON scalar (it comes from json.loads): its text needs no key order
        h.update(f"{path}|{_SCALAR(value)}".encode())
        return h.hexdigest()


def leaf_digest(key: bytes, seq: int, path: str, value: Any) -> str:
    """The digest one leaf value (a string, number, boolean or null) of entry ``seq`` hashes as."""
    return LeafHasher(key, seq).digest(path, value)


def digest_tree(data: Any, key: bytes, seq: int, path: str = "", leaves: LeafHasher | None = None) -> Any:
    """``data`` with every leaf replaced by its ``leaf_digest`` (a marker by the digest it carries)."""
    leaves = leaves or LeafHasher(key, seq)
    if is_marker(data):
        return data[REDACTED]
    digest = leaves.digest
    if isinstance(data, dict):
        return {
            k: digest(f"{path}/{k}", v)
            if v.__class__ in _LEAVES
            else digest_tree(v, key, seq, f"{path}/{k}", leaves)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [
            digest(f"{path}/{i}", v)
            if v.__class__ in _LEAVES
            else digest_tree(v, key, seq, f"{path}/{i}", leaves)
            for i, v in enumerate(data)
        ]
    return digest(path, data)


def _image(text: str | None, key: bytes, seq: int) -> Any:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:  # not written by ``canonical``: hashed as one opaque leaf
        data = text
    return digest_tree(data, key, seq)


def _payload(row, seq: int, prev_hash: str, images: tuple[Any, Any] | None = None) -> bytes:
    occurred = row.occurred_at
    if isinstance(occurred, str):  # SQLite may hand back text for odd values
        occurred = dt.datetime.fromisoformat(occurred)
    payload = {
        "seq": seq,
        "prev": prev_hash or "",
        "occurred_at": occurred.isoformat() if occurred else None,
        "kind": row.kind,
        "actor_id": row.actor_id,
        "actor_name": row.actor_name,
        "client_id": row.client_id,
        "resource": row.resource,
        "record_id": row.record_id,
        "action": row.action,
        "owner_id": row.owner_id,
        "department_id": row.department_id,
        "before": row.before,
        "after": row.after,
        "request_id": row.request_id,
        "ip": row.ip,
    }
    if images is not None:  # version 2: the images as digest trees, and the version itself
        payload["before"], payload["after"] = images
        payload["v"] = 2
    return _PAYLOAD(payload).encode()


def entry_hash(row, seq: int, prev_hash: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 (under ``key``, default this instance's ``audit_key``) over everything an entry
    says, its place in the chain and its predecessor's hash, in the entry's ``hash_version``."""
    key = key or audit_key()[0]
    if getattr(row, "hash_version", None) == 2:
        images = (_image(row.before, key, seq), _image(row.after, key, seq))
        return hmac.new(key, _payload(row, seq, prev_hash, images), hashlib.sha256).hexdigest()
    return hmac.new(key, _payload(row, seq, prev_hash), hashlib.sha256).hexdigest()


def legacy_hash(row, seq: int, prev_hash: str) -> str:
    """The unkeyed SHA-256 of chains sealed before the key (only valid up to a ``rekey`` anchor)."""
    return hashlib.sha256(_payload(row, seq, prev_hash)).hexdigest()


def head_mac(key: bytes, seq: int, last_hash: str) -> str:
    """The head row's own HMAC over the last ``seq`` and ``hash``."""
    return hmac.new(key, f"audit head|{seq}|{last_hash or ''}".encode(), hashlib.sha256).hexdigest()


def voucher_digest(row, key: bytes) -> str:
    """What a ``redact`` anchor records for a version-1 (or legacy) entry it redacted: an HMAC of
    the entry's redacted content, its place in the chain and the hash it was sealed with. Such
    entries hash their stored texts, so a redaction changes their hash; the keyed anchor, itself
    in the chain, vouches for the redacted content instead (``vouchers.redaction_vouchers``)."""
    body = _payload(row, row.seq, row.prev_hash or "") + f"|redacted|{row.hash or ''}".encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()
