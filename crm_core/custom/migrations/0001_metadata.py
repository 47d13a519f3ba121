"""Field definitions, custom object types and records, applied templates, cache version."""

import datetime

import peewee as pw


def up(migrator, db):
    class Base(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            legacy_table_names = False

    class FieldDefinition(Base):
        entity = pw.CharField(max_length=100, index=True)
        name = pw.CharField(max_length=64)
        type = pw.CharField(max_length=20)
        label_en = pw.CharField(max_length=200, default="")
        label_zh = pw.CharField(max_length=200, default="")
        help_en = pw.TextField(default="")
        help_zh = pw.TextField(default="")
        required = pw.BooleanField(default=False)
        unique = pw.BooleanField(default=False)
        filterable = pw.BooleanField(default=False)
        default_json = pw.TextField(null=True)
        min_value = pw.CharField(max_length=64, null=True)
        max_value = pw.CharField(max_length=64, null=True)
        min_length = pw.IntegerField(null=True)
        max_length = pw.IntegerField(null=True)
        regex = pw.CharField(max_length=500, null=True)
        choices_json = pw.TextField(default="[]")
        reference = pw.CharField(max_length=100, null=True)
        position = pw.IntegerField(default=0)
        source = pw.CharField(max_length=100, default="")
        deleted_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "metadata_field"
            indexes = ((("entity", "name"), True),)

    class ObjectType(Base):
        name = pw.CharField(max_length=64, unique=True)
        label_en = pw.CharField(max_length=200, default="")
        label_zh = pw.CharField(max_length=200, default="")
        description = pw.TextField(default="")
        source = pw.CharField(max_length=100, default="")

        class Meta:
            table_name = "metadata_object_type"

    class ObjectRecord(Base):
        owner_id = pw.IntegerField(null=True, index=True)
        department_id = pw.IntegerField(null=True, index=True)
        custom = pw.JSONField(default=dict)
        type = pw.CharField(max_length=64, index=True)
        name = pw.CharField(max_length=200, default="")

        class Meta:
            table_name = "metadata_object_record"

    class AppliedTemplate(Base):
        name = pw.CharField(max_length=100, unique=True)
        version = pw.CharField(max_length=40)
        plugin = pw.CharField(max_length=100, default="")
        checksum = pw.CharField(max_length=64, default="")

        class Meta:
            table_name = "metadata_template"

    class MetadataState(pw.Model):
        id = pw.IntegerField(primary_key=True)
        version = pw.IntegerField(default=0)

        class Meta:
            database = db
            table_name = "metadata_state"

    db.create_tables([FieldDefinition, ObjectType, ObjectRecord, AppliedTemplate, MetadataState])
    MetadataState.insert(id=1, version=0).execute()
