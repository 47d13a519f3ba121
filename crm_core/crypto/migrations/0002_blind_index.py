"""Blind indexes of encrypted values; the unused ``encrypt_count`` of data keys goes."""

import peewee as pw


def up(migrator, db):
    class BlindIndex(pw.Model):
        entity = pw.CharField(max_length=100)
        field = pw.CharField(max_length=64)
        record_id = pw.BigIntegerField()
        digest = pw.CharField(max_length=16)

        class Meta:
            database = db
            table_name = "crypto_blind_index"
            primary_key = pw.CompositeKey("entity", "field", "record_id")
            indexes = ((("entity", "field", "digest"), False),)

    db.create_tables([BlindIndex])
    migrator.migrate(migrator.drop_column("crypto_data_key", "encrypt_count"))
