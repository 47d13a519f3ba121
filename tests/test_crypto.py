"""Encryption at rest: both ciphers round-trip and refuse tampering; key rotation; shredding."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core import crypto
from crm_core.crypto import ciphers, keyring
from crm_core.crypto.models import DataKey
from crm_core.testing import run_cli

CIPHERS = ["AES-256-GCM", "SM4-GCM"]


@pytest.mark.parametrize("cipher", CIPHERS)
@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(max_size=512), aad=st.binary(max_size=64))
def test_ciphers_round_trip(cipher, plaintext, aad):
    key = bytes(range(ciphers.KEY_BYTES[cipher]))
    assert ciphers.open_sealed(cipher, key, ciphers.seal(cipher, key, plaintext, aad), aad) == plaintext


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("part", ["nonce", "ciphertext", "tag", "aad"])
def test_tampering_fails(cipher, part):
    key = bytes(ciphers.KEY_BYTES[cipher])
    blob = bytearray(ciphers.seal(cipher, key, b"13800138000", b"customers/1/phone"))
    aad = b"customers/1/phone"
    position = {"nonce": 0, "ciphertext": ciphers.NONCE_BYTES, "tag": len(blob) - 1}
    if part == "aad":
        aad = b"customers/2/phone"
    else:
        blob[position[part]] ^= 1
    with pytest.raises(ciphers.DecryptionError):
        ciphers.open_sealed(cipher, key, bytes(blob), aad)


@pytest.mark.parametrize("cipher", CIPHERS)
def test_nonce_is_fresh_per_value(cipher):
    key = bytes(ciphers.KEY_BYTES[cipher])
    assert ciphers.seal(cipher, key, b"x", b"") != ciphers.seal(cipher, key, b"x", b"")


def test_wrong_key_length_is_refused():
    with pytest.raises(ValueError, match="16-byte"):
        ciphers.seal("SM4-GCM", bytes(32), b"x", b"")


@pytest.mark.parametrize("cipher", CIPHERS)
def test_tokens_are_bound_to_their_row_and_field(app, cipher):
    with app.app_context():
        keyring.add_key(cipher)
        token = crypto.encrypt("110101199003077578", "customers/7/id_number")
        assert crypto.is_token(token) and "1101" not in token
        assert crypto.decrypt(token, "customers/7/id_number") == "110101199003077578"
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(token, "customers/8/id_number")
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(token, "customers/7/phone")


def test_rotation_keeps_old_values_readable(app):
    with app.app_context():
        first = keyring.add_key("AES-256-GCM")
        old = crypto.encrypt("old", "c/1/f")
        second = keyring.add_key("SM4-GCM")
        new = crypto.encrypt("new", "c/1/f")
        assert crypto.key_id_of(old) == first.key_id and crypto.key_id_of(new) == second.key_id
        assert crypto.decrypt(old, "c/1/f") == "old" and crypto.decrypt(new, "c/1/f") == "new"
        assert DataKey.get(DataKey.key_id == first.key_id).state == "decrypt_only"
        keyring.retire(first.key_id)
        with pytest.raises(crypto.KeyRingError):
            crypto.decrypt(old, "c/1/f")
        with pytest.raises(crypto.KeyRingError, match="active"):
            keyring.retire(second.key_id)


def test_data_keys_are_stored_wrapped(app):
    with app.app_context():
        key = keyring.add_key("AES-256-GCM")
        _, material = keyring.key_material(key.key_id)
        assert material not in base64.b64decode(DataKey.get_by_id(key.id).wrapped)


def test_shredding_a_person_makes_their_values_unreadable(app):
    with app.app_context():
        token = crypto.encrypt("chat text", "conversations/3/content", subject="customers/5")
        assert crypto.decrypt(token, "conversations/3/content", subject="customers/5") == "chat text"
        # the token names its person, so a reader needs only the context; another person's fails
        assert crypto.subject_of(token) == "customers/5"
        assert crypto.decrypt(token, "conversations/3/content") == "chat text"
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(token, "conversations/3/content", subject="customers/6")
        crypto.encrypt("other", "conversations/4/content", subject="customers/6")  # 6 has a key
        forged = token.replace(
            token.split(".")[2], base64.urlsafe_b64encode(b"customers/6").decode().rstrip("=")
        )
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(forged, "conversations/3/content")
        assert keyring.shred("customers/5")
        keyring._cache().clear()
        with pytest.raises(crypto.KeyRingError):
            crypto.decrypt(token, "conversations/3/content", subject="customers/5")


def test_blind_index_matches_equal_values_only(app):
    with app.app_context():
        a = crypto.blind_index("138 0013-8000", "customers.phone")
        assert a == crypto.blind_index("13800138000", "customers.phone")
        assert a != crypto.blind_index("13800138001", "customers.phone")
        assert a != crypto.blind_index("13800138000", "customers.mobile")
        assert len(a) == 8


def test_keys_cli_rotates_and_lists(app):
    result = run_cli(app, "keys", "rotate", "--cipher", "SM4-GCM")
    assert result.exit_code == 0, result.output
    assert "SM4-GCM" in result.output
    listing = run_cli(app, "keys", "status")
    assert "active" in listing.output and "SM4-GCM" in listing.output


def test_a_secret_made_by_many_at_once_is_one_secret(tmp_path):
    """Workers starting together (or the first writes of a new instance) all read the one secret
    the first of them wrote, never a half-written file."""
    import threading

    from crm_core.config import kept_secret

    path = tmp_path / "instance" / "master_key"
    start, seen = threading.Barrier(8), []

    def make():
        return base64.b64encode(os.urandom(32)).decode()

    def worker():
        start.wait()
        seen.append(kept_secret(path, make))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 1 and len(base64.b64decode(seen[0])) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["master_key"]  # no temporary file left
