"""Attachment metadata moves from the plain ``medical_record.attachments`` column to the
encrypted custom field ``attachments`` (template ``medical_record`` version 2): a file's name or
description is clinical data. And ``medical_reauth``: when each clinician last typed their
password again for a break-glass (``MEDICAL_BREAK_GLASS_REAUTH_MINUTES``).

A migration cannot seal values (that needs the running app's key ring), so it refuses while a
record still holds plain metadata, rather than drop or keep it in clear: no release stored any.
"""

import datetime

import peewee as pw


def up(migrator, db):
    record = pw.Table("medical_record", ("id", "attachments")).bind(db)
    # the column's JSON text: an empty list is "[]" (any spacing); anything else is metadata
    held = [
        row_id
        for row_id, value in record.select(record.id, record.attachments).tuples()
        if value not in (None, "", "[]", []) and str(value).replace(" ", "") != "[]"
    ]
    if held:
        raise RuntimeError(
            f"medical_record rows {held[:20]} still hold plain attachment metadata; copy it into "
            "custom.attachments through the API (it is sealed there), empty the column, migrate again"
        )
    migrator.migrate(migrator.drop_column("medical_record", "attachments"))

    class Reauth(pw.Model):
        user_id = pw.IntegerField(primary_key=True)
        confirmed_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            table_name = "medical_reauth"

    db.create_tables([Reauth])
