"""Values as self-describing envelope tokens: ``crm1.<key id>.<base64url(nonce|ciphertext|tag)>``.

The associated data is the key id plus the caller's ``context`` (``customers/12/id_number``: the
object, row and field), so a token copied to another row or field does not open. A token made
with a ``subject`` (``customers/12``) is sealed with a key derived from the data key and that
person's key: ``crm1s.<key id>.<base64url(subject)>.<body>``. The subject travels in the token
(and in the associated data, so it cannot be swapped), which lets any reader open it knowing only
the context; shredding the person's key makes it unreadable for good.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import ciphers, keyring

PREFIXES = ("crm1.", "crm1s.")


def is_token(value) -> bool:
    """Whether ``value`` is an envelope token (a string starting ``crm1.`` or ``crm1s.``)."""
    return isinstance(value, str) and value.startswith(PREFIXES)


def key_id_of(token: str) -> str:
    """The data key id a token was sealed with."""
    return token.split(".", 2)[1]


def subject_of(token: str) -> str | None:
    """The person a token is bound to (``customers/12``), or None."""
    if not token.startswith("crm1s."):
        return None
    return _b64decode(token.split(".", 3)[2]).decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _value_key(cipher: str, key: bytes, subject: str | None, create: bool) -> bytes:
    if subject is None:
        return key
    secret = keyring.subject_secret(subject, create=create)
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=ciphers.KEY_BYTES[cipher], salt=secret, info=b"crm subject value"
    )
    return hkdf.derive(key)


def _aad(key_id: str, context: str, subject: str | None) -> bytes:
    return f"{key_id}|{context}|{subject or ''}".encode()


def encrypt(plaintext: str, context: str, *, subject: str | None = None, key_id: str | None = None) -> str:
    """The token of ``plaintext`` for ``context`` under the active data key (or ``key_id``)."""
    key_id = key_id or keyring.active_key().key_id
    cipher, key = keyring.key_material(key_id)
    blob = ciphers.seal(
        cipher, _value_key(cipher, key, subject, True), plaintext.encode(), _aad(key_id, context, subject)
    )
    if subject is None:
        return f"crm1.{key_id}.{_b64(blob)}"
    return f"crm1s.{key_id}.{_b64(subject.encode())}.{_b64(blob)}"


def decrypt(token: str, context: str, *, subject: str | None = None) -> str:
    """The plaintext of ``token``; ``ciphers.DecryptionError`` when it was changed or moved (or is
    bound to another person than ``subject``, when given), ``keyring.KeyRingError`` when its key is
    gone (retired, or the person's key shredded)."""
    if not is_token(token):
        raise ciphers.DecryptionError("not an envelope token")
    try:
        if token.startswith("crm1s."):
            _, key_id, subject_b64, body = token.split(".", 3)
            bound = _b64decode(subject_b64).decode()
        else:
            _, key_id, body = token.split(".", 2)
            bound = None
        blob = _b64decode(body)
    except (ValueError, UnicodeDecodeError):
        raise ciphers.DecryptionError("malformed envelope token") from None
    if subject is not None and bound != subject:
        raise ciphers.DecryptionError("this value is bound to another person")
    cipher, key = keyring.key_material(key_id)
    plain = ciphers.open_sealed(
        cipher, _value_key(cipher, key, bound, False), blob, _aad(key_id, context, bound)
    )
    return plain.decode()
