"""The backup file: a tar archive holding ``manifest.json`` (first) and the database itself.

The manifest says what the backup is (crm-core version, backend, the migrations applied, when it
was taken, the audit chain's head and key id, a fingerprint of the master key), so a restore can
refuse a file it must not apply before touching anything.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from playhouse.migrations import Migration

from ..migrate import history_table, migration_sets

FORMAT = "crm-core-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: the member holding the database, per backend
DATA_MEMBER = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
#: what a backup does not hold and must be kept with it (printed by ``crm backup``)
KEEP_APART = (
    "the encryption master key (ENCRYPTION_MASTER_KEY, or the file ENCRYPTION_MASTER_KEY_FILE, "
    "default master_key in the instance folder), and ENCRYPTION_MASTER_KEY_PREVIOUS during a rotation",
    "SECRET_KEY (or the file secret_key in the instance folder) or AUDIT_KEY: the audit chain's key",
)


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why and what to do."""


def write_archive(path: Path, manifest: dict, data_file: Path) -> None:
    """Write the backup ``path``: the manifest, then ``data_file`` as the backend's member.

    Written beside ``path`` and renamed into place, so an interrupted backup never leaves a
    half-written file under the name given."""
    partial = path.with_name(path.name + ".partial")
    try:
        with tarfile.open(partial, "w") as tar:
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(body))
            tar.add(str(data_file), arcname=DATA_MEMBER[manifest["backend"]])
        partial.chmod(0o600)  # the backup holds every customer's data
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def read_manifest(path: Path) -> dict:
    """The manifest of the backup ``path``; ``BackupError`` when it is not a crm-core backup."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        with tarfile.open(path, "r") as tar:
            member = tar.getmember(MANIFEST)
            manifest = json.loads(tar.extractfile(member).read())
    except (tarfile.TarError, KeyError, ValueError, OSError):
        raise BackupError(f"{path} is not a crm-core backup (no readable {MANIFEST})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a crm-core backup (its manifest is not one)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is backup format {manifest.get('format_version')}, this crm-core reads {FORMAT_VERSION}"
        )
    if manifest.get("backend") not in DATA_MEMBER:
        raise BackupError(f"{path}: unknown backend {manifest.get('backend')!r} in the manifest")
    return manifest


def extract_data(path: Path, manifest: dict, into: Path) -> Path:
    """Copy the database member of backup ``path`` to the file ``into``; returns ``into``."""
    name = DATA_MEMBER[manifest["backend"]]
    with tarfile.open(path, "r") as tar:
        try:
            source = tar.extractfile(tar.getmember(name))
        except KeyError:
            raise BackupError(f"{path} has a manifest but no {name}: the backup is incomplete") from None
        with open(into, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
    return into


def known_migrations(plugins) -> dict[str, list[str]]:
    """``{history table: [migration names]}`` this code can apply (core and installed plugins)."""
    return {
        history_table(name): [m.name for m in Migration.load_directory(str(directory))]
        for name, directory in migration_sets(plugins)
    }


def newer_migrations(applied: dict[str, list[str]], plugins) -> dict[str, list[str]]:
    """The migrations a backup has applied that this code does not know, per history table:
    a backup from a newer crm-core (or a newer plugin). History tables of plugins not installed
    here are left out (their tables come back unused)."""
    known = known_migrations(plugins)
    newer = {}
    for table, names in applied.items():
        if table in known:
            extra = sorted(set(names) - set(known[table]))
            if extra:
                newer[table] = extra
    return newer
