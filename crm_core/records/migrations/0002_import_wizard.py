"""The import wizard's tables: uploaded files waiting for their column mapping, and each user's
last mapping per collection (so the next file with the same headings is mapped already)."""

import datetime

import peewee as pw


def up(migrator, db):
    class ImportUpload(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        user_id = pw.IntegerField(index=True)
        resource = pw.CharField(max_length=100)
        filename = pw.CharField(max_length=255)
        encoding = pw.CharField(max_length=20, default="")
        data = pw.BlobField()

        class Meta:
            database = db
            table_name = "import_upload"

    class ImportMapping(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        user_id = pw.IntegerField()
        resource = pw.CharField(max_length=100)
        columns = pw.JSONField(default=dict)
        mode = pw.CharField(max_length=20, default="create")
        match_key = pw.CharField(max_length=100, default="")
        encoding = pw.CharField(max_length=20, default="")

        class Meta:
            database = db
            table_name = "import_mapping"
            indexes = ((("user_id", "resource"), True),)

    db.create_tables([ImportUpload, ImportMapping])
