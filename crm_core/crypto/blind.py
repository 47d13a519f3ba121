"""Blind indexes: a keyed, truncated hash of a normalised value, for exact-match lookup of an
encrypted field without decrypting every row.

The key is derived from the master key per purpose (``customers.id_number``), so equal values in
two fields do not link. Truncation (``BITS``) is the trade-off: with R rows and a field of K bits
of entropy, about R / 2^min(BITS, K) rows share each digest. Fewer than 2 makes the digest
identify a row (frequency analysis on a stolen table tells more); many more makes each lookup
decrypt more candidates. 32 bits suits up to a few billion rows of phone or ID numbers (about 40
bits of entropy); the lookup always decrypts the candidates and keeps only the real matches, so a
collision can cost time but never a wrong answer.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import keyring

BITS = 32


def normalise(value: str) -> str:
    """The form that is hashed: trimmed, case-folded, inner spaces and dashes removed."""
    return "".join(str(value).split()).replace("-", "").casefold()


def index_key(purpose: str) -> bytes:
    """The HMAC key of one blind index, derived from the master key."""
    cache = keyring._cache()
    if ("blind", purpose) not in cache:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"crm blind index", info=purpose.encode())
        cache[("blind", purpose)] = hkdf.derive(keyring.master_key())
    return cache[("blind", purpose)]


def blind_index(value: str, purpose: str, bits: int = BITS) -> str:
    """The hex digest (``bits`` long) of ``value`` normalised, keyed for ``purpose``."""
    digest = hmac.new(index_key(purpose), normalise(value).encode(), hashlib.sha256).digest()
    return digest[: (bits + 7) // 8].hex()
