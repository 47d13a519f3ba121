"""Encryption at rest: AES-256-GCM / SM4-GCM envelope tokens under a key ring, blind indexes.

- ``encrypt(plaintext, context, subject=None)`` / ``decrypt(token, context, subject=None)``:
  envelope tokens (``crypto.envelope``) bound to their row and field.
- ``blind_index(value, purpose)``: exact-match lookup of encrypted values (``crypto.blind``).
- ``keyring.add_key`` (rotate), ``keyring.shred(subject)`` (erasure by key destruction).
"""

from .blind import blind_index
from .ciphers import DecryptionError
from .envelope import decrypt, encrypt, is_token, key_id_of
from .keyring import KeyRingError

__all__ = ["DecryptionError", "KeyRingError", "blind_index", "decrypt", "encrypt", "is_token", "key_id_of"]
