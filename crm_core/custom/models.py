"""Tables of the metadata engine: field definitions, custom object types and their records,
applied templates, and a version counter that tells every process when to rebuild its caches."""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel, RecordModel, database


class FieldDefinition(BaseModel):
    """One custom field of an entity (``customers``, ``objects.course``, ``loyalty.members``).

    Deleting a field only stamps ``deleted_at``: the values stay in the records' ``custom`` JSON
    until a purge, so nothing is lost by a mistaken delete.
    """

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
    encrypted = pw.BooleanField(default=False)  # values stored as envelope tokens
    blind_index = pw.BooleanField(default=False)  # exact-match lookup of an encrypted field
    default_json = pw.TextField(null=True)  # JSON text of the default; NULL = no default
    min_value = pw.CharField(max_length=64, null=True)  # decimal text: exact bounds
    max_value = pw.CharField(max_length=64, null=True)
    min_length = pw.IntegerField(null=True)
    max_length = pw.IntegerField(null=True)
    regex = pw.CharField(max_length=500, null=True)
    choices_json = pw.TextField(default="[]")
    reference = pw.CharField(max_length=100, null=True)  # target entity of a reference field
    position = pw.IntegerField(default=0)
    source = pw.CharField(max_length=100, default="")  # "" (API/CLI) or the template's name
    deleted_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "metadata_field"
        indexes = ((("entity", "name"), True),)


class ObjectType(BaseModel):
    """A custom object type defined at runtime (``course``, ``medical_record``)."""

    name = pw.CharField(max_length=64, unique=True)
    label_en = pw.CharField(max_length=200, default="")
    label_zh = pw.CharField(max_length=200, default="")
    description = pw.TextField(default="")
    source = pw.CharField(max_length=100, default="")

    class Meta:
        table_name = "metadata_object_type"


class ObjectRecord(RecordModel):
    """A record of a custom object type: the type, a display name, and its values in ``custom``.

    One table holds every type; :func:`crm_core.custom.object_types.object_model` gives each type its
    own model class whose queries are confined to that type, so the generic list API, write path
    and permission functions work on it unchanged.
    """

    type = pw.CharField(max_length=64, index=True)
    name = pw.CharField(max_length=200, default="")

    class Meta:
        table_name = "metadata_object_record"


class AppliedTemplate(BaseModel):
    """Which version of each industry template has been applied (templates are idempotent)."""

    name = pw.CharField(max_length=100, unique=True)
    version = pw.CharField(max_length=40)
    plugin = pw.CharField(max_length=100, default="")
    checksum = pw.CharField(max_length=64, default="")

    class Meta:
        table_name = "metadata_template"


class MetadataState(pw.Model):
    """One row whose ``version`` grows on every definition change: caches in every worker
    compare it to know when their compiled schemas are stale."""

    id = pw.IntegerField(primary_key=True)
    version = pw.IntegerField(default=0)

    class Meta:
        database = database
        table_name = "metadata_state"


MODELS = [FieldDefinition, ObjectType, ObjectRecord, AppliedTemplate, MetadataState]
