"""Grants and field rules: what each role may do, on which rows, and which fields it may see or change."""

from __future__ import annotations

import peewee as pw

from ..auth.models import Role, UserRole
from ..db import BaseModel

SCOPES = ("own", "department", "department_tree", "all")
FIELD_RULES = ("hidden", "masked", "masked-writable", "read-only")  # see permissions.fields


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
    """Field-level security: ``field`` of ``resource`` is ``hidden``, ``masked`` (shown partly),
    ``masked-writable`` (shown partly, written) or ``read-only`` for ``role`` (absent means read-write). Custom fields are named by their plain name."""

    role = pw.ForeignKeyField(Role, backref="field_rules", on_delete="CASCADE")
    resource = pw.CharField(max_length=120)
    field = pw.CharField(max_length=120)
    rule = pw.CharField(max_length=20)

    class Meta:
        table_name = "permission_field_rule"
        indexes = ((("role", "resource", "field"), True),)


MODELS = [Grant, FieldRule]


def role_dict(role: Role) -> dict:
    """JSON view of a role with its grants and field rules."""
    grants = Grant.select().where(Grant.role == role).order_by(Grant.resource, Grant.action)
    rules = FieldRule.select().where(FieldRule.role == role).order_by(FieldRule.resource, FieldRule.field)
    return {
        "id": role.id,
        "name": role.name,
        "label": role.label,
        "builtin": role.builtin,
        "grants": [{"resource": g.resource, "action": g.action, "scope": g.scope} for g in grants],
        "field_rules": [{"resource": r.resource, "field": r.field, "rule": r.rule} for r in rules],
        "users": UserRole.select().where(UserRole.role == role).count(),
    }
