"""The keyed chain: the head row gets its own MAC and the id of the key that sealed the log.

Entries sealed before this migration carry plain SHA-256 hashes. If there are any, this appends
one ``rekey`` anchor, sealed with the instance's audit key (``AUDIT_KEY`` or ``SECRET_KEY``: run
it through ``crm migrate`` so the app's settings are there), that vouches for them: ``verify``
checks entries up to its ``legacy_to_seq`` with SHA-256 and everything after with the key.
"""

import peewee as pw

from crm_core.audit.chain import adopt_legacy


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("audit_head", "mac", pw.CharField(max_length=64, null=True)),
        migrator.add_column("audit_head", "key_id", pw.CharField(max_length=16, null=True)),
    )
    row = db.execute_sql("SELECT seq FROM audit_head WHERE id = 1").fetchone()
    if row and row[0]:
        from flask import has_app_context

        if not has_app_context():
            raise RuntimeError("audit migration 0003 needs the app's settings: run `crm migrate`")
        adopt_legacy()
