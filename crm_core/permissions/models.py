"""Grants and field rules: what each role may do, on which rows, and which fields it may see or change."""

from __future__ import annotations

import peewee as pw

from ..auth.models import Role
from ..db import BaseModel

SCOPES = ("own", "department", "department_tree", "all")
FIELD_RULES = ("hidden", "read-only")


class Grant(BaseModel):
    """``role`` may do ``resource:action`` on the rows inside ``scope``.

    ``resource`` and ``action`` may be ``*``, and ``resource`` may end in ``.*``
    (``objects.*`` covers every custom object type), so that the admin role and plugin defaults
    do not need one row per resource.
    """

    role = pw.ForeignKeyField(Role, backref="grants", on_delete="CASCADE")
    resource = pw.CharField(max_length=120)
    action = pw.CharField(max_length=60)
    scope = pw.CharField(max_length=20, default="all")

    class Meta:
        table_name = "permission_grant"
        indexes = ((("role", "resource", "action"), True),)


class FieldRule(BaseModel):
    """Field-level security: ``field`` of ``resource`` is ``hidden`` or ``read-only`` for ``role``
    (absent means read-write). Custom fields are named by their plain name."""

    role = pw.ForeignKeyField(Role, backref="field_rules", on_delete="CASCADE")
    resource = pw.CharField(max_length=120)
    field = pw.CharField(max_length=120)
    rule = pw.CharField(max_length=20)

    class Meta:
        table_name = "permission_field_rule"
        indexes = ((("role", "resource", "field"), True),)


MODELS = [Grant, FieldRule]
