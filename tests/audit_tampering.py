"""Shared by the audit tests: tamper with the log as someone with full control of the database."""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[1] / "crm_core" / "audit" / "migrations"


def load_migration(filename: str):
    """The audit migration module ``filename`` (migration files are not importable by name)."""
    spec = importlib.util.spec_from_file_location(filename.removesuffix(".py"), MIGRATIONS / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def tampering():
    """Act as someone with full control of the database (but not of the instance's settings):
    switch the append-only triggers off."""
    from crm_core.db import database, is_postgres

    if is_postgres():
        database.execute_sql("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only")
        try:
            yield
        finally:
            database.execute_sql("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_append_only")
    else:
        mig = load_migration("0002_append_only.py")
        database.execute_sql("DROP TRIGGER IF EXISTS audit_entry_no_update")
        database.execute_sql("DROP TRIGGER IF EXISTS audit_entry_no_delete")
        try:
            yield
        finally:
            database.execute_sql(mig.SQLITE_UPDATE)
            database.execute_sql(mig.SQLITE_DELETE)
