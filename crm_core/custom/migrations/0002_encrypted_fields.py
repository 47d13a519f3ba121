"""Field definitions can be encrypted, and searchable by a blind index."""

import peewee as pw


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("metadata_field", "encrypted", pw.BooleanField(default=False)),
        migrator.add_column("metadata_field", "blind_index", pw.BooleanField(default=False)),
    )
