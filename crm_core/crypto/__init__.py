"""Encryption at rest: AES-256-GCM / SM4-GCM envelope tokens under a key ring, blind indexes.

- ``encrypt(plaintext, context, subject=None)`` / ``decrypt(token, context, subject=None)``:
  envelope tokens (``crypto.envelope``) bound to their row and field.
- ``seal_value`` / ``open_value`` / ``reveal``: JSON field values as tokens (``crypto.values``).
- ``blind_index(value, purpose)``: exact-match lookup of encrypted values (``crypto.blind``).
- ``keyring.add_key`` (rotate), ``keyring.shred(subject)`` (erasure by key destruction).
"""

from .blind import blind_index
from .ciphers import DecryptionError
from .envelope import decrypt, encrypt, is_token, key_id_of, subject_of
from .keyring import KeyRingError
from .values import context, open_value, prefetch, readable, reveal, seal_value

__all__ = [
    "DecryptionError",
    "KeyRingError",
    "blind_index",
    "context",
    "decrypt",
    "encrypt",
    "is_token",
    "key_id_of",
    "open_value",
    "prefetch",
    "readable",
    "reveal",
    "seal_value",
    "subject_of",
]
