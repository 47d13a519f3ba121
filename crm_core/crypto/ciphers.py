"""The two AEAD ciphers for data at rest: AES-256-GCM and SM4-GCM (GB/T 32907, 国密).

Both take a random 96-bit nonce per value and a 128-bit tag, and bind associated data (which row
and field a value belongs to), so a changed ciphertext, nonce or associated data fails to open.
pyca/cryptography has no SM4 AEAD class: SM4-GCM goes through the ``Cipher`` API, which needs
cryptography >= 42 built on OpenSSL >= 3 (``available`` probes it).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
TAG_BYTES = 16

#: Key length in bytes of each cipher by its setting name.
KEY_BYTES = {"AES-256-GCM": 32, "SM4-GCM": 16}


class DecryptionError(Exception):
    """A value did not open: wrong key, or its ciphertext, nonce or associated data was changed."""


def _check_key(cipher: str, key: bytes) -> None:
    if cipher not in KEY_BYTES:
        raise ValueError(f"unknown cipher {cipher!r} (use {' or '.join(KEY_BYTES)})")
    if len(key) != KEY_BYTES[cipher]:
        raise ValueError(f"{cipher} takes a {KEY_BYTES[cipher]}-byte key")


def seal(cipher: str, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """``nonce | ciphertext | tag`` of ``plaintext`` under ``key``, bound to ``aad``."""
    _check_key(cipher, key)
    nonce = os.urandom(NONCE_BYTES)
    if cipher == "AES-256-GCM":
        return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def open_sealed(cipher: str, key: bytes, blob: bytes, aad: bytes) -> bytes:
    """The plaintext of a :func:`seal` result; ``DecryptionError`` when anything was changed."""
    _check_key(cipher, key)
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("ciphertext too short")
    nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        if cipher == "AES-256-GCM":
            return AESGCM(key).decrypt(nonce, body, aad)
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, body[-TAG_BYTES:])).decryptor()
        decryptor.authenticate_additional_data(aad)
        return decryptor.update(body[:-TAG_BYTES]) + decryptor.finalize()
    except InvalidTag as exc:
        raise DecryptionError("the value was changed or belongs elsewhere") from exc


def available(cipher: str) -> bool:
    """Whether this build of cryptography/OpenSSL can run ``cipher`` (some FIPS builds lack SM4)."""
    try:
        key = bytes(KEY_BYTES[cipher])
        return open_sealed(cipher, key, seal(cipher, key, b"probe", b""), b"") == b"probe"
    except (UnsupportedAlgorithm, KeyError):
        return False
