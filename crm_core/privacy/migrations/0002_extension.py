"""Privacy requests can be extended once (GDPR Art. 12(3): by up to two further months)."""

import peewee as pw


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("privacy_request", "extended_at", pw.DateTimeField(null=True)),
        migrator.add_column("privacy_request", "extension_reason", pw.TextField(default="")),
    )
