"""The key ring: a master key (KEK) from the settings wraps the data keys (DEKs) kept in the
database; one data key is ``active`` and encrypts new values, older ones only decrypt.

The master key never reaches the database: it comes from ``ENCRYPTION_MASTER_KEY`` (base64 of
32 bytes) or the file ``ENCRYPTION_MASTER_KEY_FILE`` (default ``master_key`` in the instance
folder, generated with mode 0600 on first use). Losing it loses every encrypted value: back it
up apart from the database backups.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from flask import current_app, g, has_request_context

from ..config import kept_secret
from ..db import database, utcnow
from . import ciphers
from .models import DataKey, SubjectKey

MASTER_CIPHER = "AES-256-GCM"


FIRST_KEY_ID = "k1"


class KeyRingError(Exception):
    """The key ring cannot serve a key: no master key, an unknown key id, a shredded person."""


def _cache() -> dict:
    # unwrapped keys per app and database: two apps in one process, or one app re-pointed at
    # another database (tests), have different keys under the same key ids
    per_app = current_app.extensions.setdefault("crm_keys", {})
    db = database.obj
    return per_app.setdefault((type(db).__name__, getattr(db, "database", None), id(db)), {})


def master_key() -> bytes:
    """The 32-byte master key from the settings (or its file, generated when absent)."""
    cache = _cache()
    if "master" in cache:
        return cache["master"]
    config = current_app.config
    text = config.get("ENCRYPTION_MASTER_KEY") or ""
    if not text:
        path = Path(config.get("ENCRYPTION_MASTER_KEY_FILE") or Path(config["INSTANCE_PATH"]) / "master_key")
        text = kept_secret(path, lambda: base64.b64encode(os.urandom(32)).decode())
    cache["master"] = key = _master_from(text, "ENCRYPTION_MASTER_KEY")
    return key


def _master_from(text: str, setting: str) -> bytes:
    """The 32-byte key that ``text`` (base64) holds; ``KeyRingError`` naming ``setting`` if not."""
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error:
        key = b""
    if len(key) != 32:
        raise KeyRingError(f"{setting} must be 32 bytes in base64")
    return key


def default_cipher() -> str:
    """``ENCRYPTION_CIPHER``, or SM4-GCM for a zh_CN deployment and AES-256-GCM otherwise."""
    config = current_app.config
    chosen = config.get("ENCRYPTION_CIPHER") or ""
    if chosen:
        return chosen
    return "SM4-GCM" if str(config.get("LOCALE") or "").startswith("zh") else "AES-256-GCM"


def _wrap(material: bytes, label: str) -> str:
    sealed = ciphers.seal(MASTER_CIPHER, master_key(), material, label.encode())
    return base64.b64encode(sealed).decode()


def _unwrap(wrapped: str, label: str) -> bytes:
    blob = base64.b64decode(wrapped)
    try:
        return ciphers.open_sealed(MASTER_CIPHER, master_key(), blob, label.encode())
    except ciphers.DecryptionError:
        # during a master key rotation, keys not yet rewrapped open with the previous one
        previous = _previous_master()
        if previous is None:
            raise
        return ciphers.open_sealed(MASTER_CIPHER, previous, blob, label.encode())


def _previous_master() -> bytes | None:
    text = current_app.config.get("ENCRYPTION_MASTER_KEY_PREVIOUS") or ""
    return _master_from(text, "ENCRYPTION_MASTER_KEY_PREVIOUS") if text else None


def wrapper(name: str) -> dict:
    """The key wrapper called ``name``: ``local`` (the master key) or one a plugin's
    ``crm_key_wrappers`` returns (Vault transit, a cloud KMS); ``KeyRingError`` when none is."""
    if name == "local":
        return {"name": "local"}
    for batch in current_app.extensions["crm"].plugins.hook.crm_key_wrappers():
        for item in batch or []:
            if item.get("name") == name:
                return item
    raise KeyRingError(f"no key wrapper {name!r}: install the plugin that provides it")


def _wrap_data_key(material: bytes, key_id: str, name: str) -> str:
    chosen = wrapper(name)
    if name == "local":
        return _wrap(material, "data key " + key_id)
    return base64.b64encode(chosen["wrap"](material)).decode()


def _unwrap_data_key(key: DataKey) -> bytes:
    if key.wrapper == "local":
        return _unwrap(key.wrapped, "data key " + key.key_id)
    return wrapper(key.wrapper)["unwrap"](base64.b64decode(key.wrapped))


def rewrap() -> int:
    """Finish a master key rotation: every data key wrapped locally and every person's key that
    opens only with ``ENCRYPTION_MASTER_KEY_PREVIOUS`` is wrapped again with the current master
    key, in one transaction (values are untouched: their data keys do not change). Returns how
    many keys were rewrapped; afterwards the previous master key can be removed."""
    previous = _previous_master()
    if previous is None:
        raise KeyRingError("set ENCRYPTION_MASTER_KEY_PREVIOUS to the master key being replaced")
    done = 0
    with database.atomic():
        for model, rows in (
            (DataKey, DataKey.select().where(DataKey.wrapper == "local", DataKey.wrapped.is_null(False))),
            (SubjectKey, SubjectKey.select().where(SubjectKey.wrapped.is_null(False))),
        ):
            for row in rows:
                label = "data key " + row.key_id if model is DataKey else "subject " + row.subject
                blob = base64.b64decode(row.wrapped)
                try:
                    ciphers.open_sealed(MASTER_CIPHER, master_key(), blob, label.encode())
                    continue  # already under the current master key
                except ciphers.DecryptionError:
                    material = ciphers.open_sealed(MASTER_CIPHER, previous, blob, label.encode())
                model.update(wrapped=_wrap(material, label), updated_at=utcnow()).where(
                    model.id == row.id
                ).execute()
                done += 1
    return done


def _usable(cipher: str) -> str:
    if not ciphers.available(cipher):
        raise KeyRingError(f"{cipher} is not available in this build of cryptography/OpenSSL")
    return cipher


def _next_key_id() -> str:
    numbers = [int(k.key_id[1:]) for k in DataKey.select(DataKey.key_id) if k.key_id[1:].isdigit()]
    return f"k{max(numbers, default=0) + 1}"


def add_key(cipher: str | None = None) -> DataKey:
    """A new data key, made active; the previous active key becomes ``decrypt_only``.

    This is ``crm keys rotate``: new writes use the new key at once, and the re-encryption job
    moves older values to it."""
    cipher = _usable(cipher or default_cipher())
    if has_request_context():
        g.pop("_crm_active_key", None)
    with database.atomic():
        DataKey.update(state="decrypt_only", updated_at=utcnow()).where(DataKey.state == "active").execute()
        key_id = _next_key_id()
        material = os.urandom(ciphers.KEY_BYTES[cipher])
        name = current_app.config.get("ENCRYPTION_KEY_WRAPPER") or "local"
        wrapped = _wrap_data_key(material, key_id, name)
        return DataKey.create(key_id=key_id, cipher=cipher, wrapped=wrapped, wrapper=name)


def active_key() -> DataKey:
    """The key new values are encrypted with (the first is made on first use).

    Read once per request: a rotation by another process is seen by the next request."""
    memo = g.setdefault("_crm_active_key", {}) if has_request_context() else {}
    db = id(database.obj)
    if db not in memo:
        key = DataKey.get_or_none(DataKey.state == "active")
        memo[db] = key if key is not None else _first_key()
    return memo[db]


def _first_key() -> DataKey:
    """Make the first data key, ``k1``. The first encrypted writes of a new database may come
    from several workers at once: each inserts ``k1`` or, finding it made, takes it (``ON
    CONFLICT DO NOTHING`` waits for the other's commit), so they never make two keys, nor does a
    late one rotate the key another just made (``add_key`` would)."""
    cipher = _usable(default_cipher())
    name = current_app.config.get("ENCRYPTION_KEY_WRAPPER") or "local"
    wrapped = _wrap_data_key(os.urandom(ciphers.KEY_BYTES[cipher]), FIRST_KEY_ID, name)
    DataKey.insert(
        key_id=FIRST_KEY_ID, cipher=cipher, wrapped=wrapped, wrapper=name, state="active"
    ).on_conflict_ignore().execute()
    return DataKey.get(DataKey.state == "active")


def key_material(key_id: str) -> tuple[str, bytes]:
    """``(cipher, raw key)`` of data key ``key_id``."""
    cache = _cache()
    entry = cache.get(("dek", key_id))
    if entry is None:
        key = DataKey.get_or_none(DataKey.key_id == key_id)
        if key is None or key.wrapped is None:
            raise KeyRingError(f"no usable data key {key_id!r}")
        entry = cache[("dek", key_id)] = (key.cipher, _unwrap_data_key(key))
    return entry


def subject_secret(subject: str, create: bool = False) -> bytes:
    """The secret of one person's key (made when ``create``); ``KeyRingError`` once shredded.

    Kept for the rest of the request (a page of 20 people opens 40 values): never longer, so a
    key shredded by another process is never served from a cache."""
    memo = g.setdefault("_crm_subject_keys", {}) if has_request_context() else {}
    key = (id(database.obj), subject)
    if key not in memo:
        memo[key] = _subject_secret(subject, create)
    return memo[key]


def prefetch_subjects(subjects) -> None:
    """Load the keys of ``subjects`` for this request in one query (a page of people opens
    each one's values: one query for the page instead of one per person). Outside a request,
    nothing: there is no request to keep them for."""
    if not has_request_context():
        return
    memo = g.setdefault("_crm_subject_keys", {})
    db = id(database.obj)
    wanted = sorted({s for s in subjects if (db, s) not in memo})
    if not wanted:
        return
    for row in SubjectKey.select().where(SubjectKey.subject.in_(wanted), SubjectKey.wrapped.is_null(False)):
        memo[(db, row.subject)] = _unwrap(row.wrapped, "subject " + row.subject)


def _subject_secret(subject: str, create: bool) -> bytes:
    row = SubjectKey.get_or_none(SubjectKey.subject == subject)
    if row is None and create:
        with database.atomic():
            SubjectKey.insert(
                subject=subject, wrapped=_wrap(secrets.token_bytes(32), "subject " + subject)
            ).on_conflict_ignore().execute()
        row = SubjectKey.get(SubjectKey.subject == subject)
    if row is None or row.wrapped is None:
        raise KeyRingError(f"no key for {subject} (never made, or shredded)")
    return _unwrap(row.wrapped, "subject " + subject)


def has_subject_key(subject: str) -> bool:
    """Whether ``subject`` has a key that opens its values (made and not shredded)."""
    return (
        SubjectKey.select().where(SubjectKey.subject == subject, SubjectKey.wrapped.is_null(False)).exists()
    )


def shred(subject: str) -> bool:
    """Destroy ``subject``'s key: every value bound to it is unreadable from now on, wherever a
    copy lives. Returns whether there was a key to destroy."""
    now = utcnow()
    if has_request_context():
        g.pop("_crm_subject_keys", None)
    done = (
        SubjectKey.update(wrapped=None, shredded_at=now, updated_at=now)
        .where(SubjectKey.subject == subject, SubjectKey.wrapped.is_null(False))
        .execute()
    )
    return bool(done)


def retire(key_id: str) -> None:
    """Delete the material of a ``decrypt_only`` key. The caller checks that nothing uses it."""
    key = DataKey.get_or_none(DataKey.key_id == key_id)
    if key is None:
        raise KeyRingError(f"no data key {key_id!r}")
    if key.state == "active":
        raise KeyRingError(f"{key_id} is the active key: rotate first")
    DataKey.update(state="retired", wrapped=None, updated_at=utcnow()).where(DataKey.id == key.id).execute()
    _cache().pop(("dek", key_id), None)
