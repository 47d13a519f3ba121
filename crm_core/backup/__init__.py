"""Backups and restores of the whole database: ``crm backup <file>`` and ``crm restore <file>``.

A backup is one file (:mod:`.manifest`): the database as of one moment (SQLite's online backup
API, :mod:`.sqlite`; ``pg_dump``, :mod:`.postgres`) and a manifest describing it. A restore
refuses, before touching anything, a file that is not a backup, one from the other backend, one
from a newer crm-core (migrations this code does not know), one sealed with another audit key, or
one whose data keys this instance's master key cannot open. After restoring it applies the
migrations the backup lacks, erases again the customers erased since the backup was taken, and
verifies the audit chain.

Not in a backup, and to be kept beside it: the master key, and the secret or audit key
(:data:`.manifest.KEEP_APART`; docs/operations-backup.md).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import hmac
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import peewee as pw
from flask import current_app

from .. import __version__
from ..audit import VerifyResult, record_event, seal, verify
from ..audit.hashing import audit_key
from ..audit.models import AuditHead
from ..auth import actor_for_user
from ..auth.models import User
from ..crypto import keyring
from ..db import is_postgres, utcnow
from ..entities.models import Customer
from ..events.models import OutboxEvent
from ..migrate import migrate
from ..privacy import erase_customer
from ..privacy.models import COMPLETED, ERASURE, PrivacyRequest
from . import postgres, sqlite
from .manifest import (
    DATA_MEMBER,
    FORMAT,
    FORMAT_VERSION,
    KEEP_APART,
    BackupError,
    extract_data,
    newer_migrations,
    read_manifest,
    write_archive,
)

__all__ = ["BackupError", "KEEP_APART", "RestoreReport", "create_backup", "read_manifest", "restore_backup"]


def _crm():
    return current_app.extensions["crm"]


def backend_of(db: pw.Database) -> str:
    """``"sqlite"`` or ``"postgresql"``; ``BackupError`` for any other database."""
    if is_postgres(db):
        return "postgresql"
    if isinstance(db, pw.SqliteDatabase):
        return "sqlite"
    raise BackupError(f"backups support SQLite and PostgreSQL, not {type(db).__name__}")


def _key_id(key: bytes) -> str:
    """A public fingerprint of a master key: tells keys apart, reveals nothing of them."""
    return hmac.new(key, b"crm-core backup: master key id", hashlib.sha256).hexdigest()[:16]


def master_key_ids() -> list[str]:
    """Fingerprints of this instance's master keys: the current one, then the previous one during
    a rotation. Never makes a key (``keyring.master_key`` would generate a file when none is
    there; the same default path as the key ring's)."""
    config = current_app.config
    ids = []
    path = Path(config.get("ENCRYPTION_MASTER_KEY_FILE") or Path(config["INSTANCE_PATH"]) / "master_key")
    if config.get("ENCRYPTION_MASTER_KEY") or path.exists():
        ids.append(_key_id(keyring.master_key()))
    previous = config.get("ENCRYPTION_MASTER_KEY_PREVIOUS") or ""
    if previous:
        # a malformed setting: the key ring reports it when it needs the key
        with contextlib.suppress(binascii.Error):
            ids.append(_key_id(base64.b64decode(previous, validate=True)))
    return ids


def create_backup(path: Path) -> dict:
    """Back the app's database up into the file ``path`` (replaced if present); returns the
    manifest written with it."""
    path = Path(path)
    db = _crm().db
    backend = backend_of(db)
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent}: no such folder")
    # taken before the snapshot: an erasure committed meanwhile is erased again by a restore
    created_at = utcnow()
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".crm-backup-") as tmp:
        data = Path(tmp) / DATA_MEMBER[backend]
        found = sqlite.dump(db, data) if backend == "sqlite" else postgres.dump(db, data)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "crm_core_version": __version__,
            "backend": backend,
            "created_at": created_at.isoformat(timespec="microseconds"),
            "migrations": found["migrations"],
            "audit_head": found["audit_head"],
            "local_data_keys": found["data_keys"],
            "master_key_ids": master_key_ids() if found["data_keys"] else [],
            "keep_apart": list(KEEP_APART),
        }
        for extra in ("server_version", "pg_dump_version"):
            if extra in found:
                manifest[extra] = found[extra]
        write_archive(path, manifest, data)
    return manifest


@dataclass
class RestoreReport:
    """What a restore did: the manifest, the migrations applied after it, the erasures done again
    (customer id -> outcome) and the audit chain's verification."""

    manifest: dict
    migrated: dict[str, list[str]]
    erasures: dict[int, str] = field(default_factory=dict)
    audit: VerifyResult | None = None


def check_restorable(manifest: dict) -> None:
    """Refuse (``BackupError``) a backup this instance must not restore, before anything changes."""
    crm = _crm()
    backend = backend_of(crm.db)
    if manifest["backend"] != backend:
        raise BackupError(
            f"this backup is of a {manifest['backend']} database and this instance runs on {backend}: "
            "restore it into a database of its own kind (crm transfer moves data between backends)"
        )
    newer = newer_migrations(manifest.get("migrations") or {}, crm.plugins)
    if newer:
        listed = "; ".join(f"{table}: {', '.join(names)}" for table, names in newer.items())
        raise BackupError(
            f"this backup comes from a newer crm-core ({manifest.get('crm_core_version')}; this is "
            f"{__version__}): it has migrations this code does not know ({listed}). Upgrade first"
        )
    head = manifest.get("audit_head") or {}
    key_id = audit_key()[1]
    if head.get("key_id") and head["key_id"] != key_id:
        raise BackupError(
            f"the backup's audit log was sealed with audit key id {head['key_id']}, this instance's is "
            f"{key_id}: set AUDIT_KEY (or SECRET_KEY) to the one in use when the backup was taken"
        )
    wanted = manifest.get("master_key_ids") or []
    if wanted and not set(wanted) & set(master_key_ids()):
        raise BackupError(
            "this instance's encryption master key is not the one that wraps the backup's data keys: "
            "put the master key kept with the backup in ENCRYPTION_MASTER_KEY or its file "
            "(ENCRYPTION_MASTER_KEY_FILE, default master_key in the instance folder)"
        )


def _erasures_since(moment: dt.datetime) -> dict[int, int | None]:
    """Customers erased at or after ``moment`` according to the database about to be replaced:
    completed erasure requests and ``customer.erased`` events; customer id -> the erasing user."""
    db = _crm().db
    found: dict[int, int | None] = {}
    if db.table_exists(OutboxEvent._meta.table_name):
        events = OutboxEvent.select(OutboxEvent.record_id, OutboxEvent.actor_id).where(
            OutboxEvent.type == "customer.erased", OutboxEvent.occurred_at >= moment
        )
        for event in events:
            if event.record_id and event.record_id.isdigit():
                found[int(event.record_id)] = event.actor_id
    if db.table_exists(PrivacyRequest._meta.table_name):
        requests = PrivacyRequest.select().where(
            PrivacyRequest.kind == ERASURE,
            PrivacyRequest.status == COMPLETED,
            PrivacyRequest.completed_at >= moment,
            PrivacyRequest.customer.is_null(False),
        )
        for request in requests:
            found.setdefault(request.customer_id, request.handled_by_id)
    return found


def _erase_again(erasures: dict[int, int | None]) -> dict[int, str]:
    outcome = {}
    for customer_id, user_id in sorted(erasures.items()):
        customer = Customer.get_or_none(Customer.id == customer_id)
        if customer is None:
            outcome[customer_id] = "not in the backup"
            continue
        user = User.get_or_none(User.id == user_id) if user_id else None
        if user is None:
            outcome[customer_id] = (
                f"NOT erased again (the user who erased is not in the backup): run "
                f"crm privacy erase {customer_id} --as <user> --yes"
            )
            continue
        erase_customer(customer, actor_for_user(user))
        outcome[customer_id] = "erased again"
    return outcome


def restore_backup(path: Path) -> RestoreReport:
    """Replace the app's database with the backup ``path`` (see the module); the app and its
    scheduler should be stopped meanwhile."""
    path = Path(path)
    manifest = read_manifest(path)
    check_restorable(manifest)
    crm = _crm()
    db = crm.db
    erasures = _erasures_since(dt.datetime.fromisoformat(manifest["created_at"]))
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".crm-restore-") as tmp:
        data = extract_data(path, manifest, Path(tmp) / DATA_MEMBER[manifest["backend"]])
        if manifest["backend"] == "sqlite":
            sqlite.load(db, data)
        else:
            postgres.load(db, data, manifest)
    head = manifest.get("audit_head")
    if head is not None:
        row = AuditHead.get_or_none(AuditHead.id == 1)
        restored = {"seq": row.seq, "hash": row.hash} if row else None
        if restored != {"seq": head["seq"], "hash": head["hash"]}:
            raise BackupError(
                f"the restored audit head {restored} is not the manifest's ({head['seq']}, {head['hash'][:16]}): "
                "the database in this file is not the one its manifest describes"
            )
    report = RestoreReport(
        manifest=manifest, migrated={k: v for k, v in migrate(db, crm.plugins).items() if v}
    )
    report.erasures = _erase_again(erasures)
    # the log itself says that the database was put back to an earlier moment, and from what
    record_event(
        None,
        "restore",
        "backup",
        extra={
            "file": path.name,
            "created_at": manifest["created_at"],
            "version": manifest.get("version"),
            "erased_again": len(report.erasures),
        },
    )
    seal()
    report.audit = verify()
    return report
