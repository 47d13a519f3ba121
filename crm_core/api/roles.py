"""``/api/v1/roles``: roles as data, with their grants and field rules; ``/api/v1/permissions``:
the resources and actions known to the system. Built-in roles cannot be renamed or deleted, and
the admin role's grants cannot be changed (so nobody can lock everyone out).

No escalation (``crm_core.permissions.delegation``): a role's grants and field rules are saved
only when the caller covers them (holds every grant at least as widely and is itself subject to no
field rule the role would drop), and only a role the caller covers may be changed or deleted;
otherwise 403 with the offending grants in ``errors``."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ..auth import ADMIN_ROLE, current_actor, record_change
from ..auth.models import Role
from ..db import database, utcnow
from ..directory.roles import check_contents, check_delegation, replace_contents
from ..errors import APIError
from ..permissions import (
    FIELD_RULES,
    SCOPES,
    get_record,
    invalidate,
    require,
    resources,
    scoped,
)
from ..permissions.models import role_dict
from . import API_PREFIX, Blueprint
from .common import PageArgs, no_nul
from .paging import PAGINATION_HEADER_DOC, page_of
from .responses import json_response

blp = Blueprint(
    "roles", __name__, url_prefix=f"{API_PREFIX}/roles", description="Roles, grants and field rules"
)
resources_blp = Blueprint(
    "permission_resources",
    __name__,
    url_prefix=f"{API_PREFIX}/permissions",
    description="Resources and actions",
)


class GrantSchema(Schema):
    resource = fields.String(required=True, validate=[validate.Length(min=1, max=120), no_nul])
    action = fields.String(required=True, validate=[validate.Length(min=1, max=60), no_nul])
    scope = fields.String(required=True, validate=validate.OneOf(SCOPES))


class FieldRuleSchema(Schema):
    resource = fields.String(required=True, validate=[validate.Length(min=1, max=120), no_nul])
    field = fields.String(required=True, validate=[validate.Length(min=1, max=120), no_nul])
    rule = fields.String(required=True, validate=validate.OneOf(FIELD_RULES))


class RoleIn(Schema):
    name = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_.-]{0,79}$"))
    label = fields.String(load_default="", validate=[validate.Length(max=200), no_nul])
    grants = fields.List(fields.Nested(GrantSchema), load_default=list)
    field_rules = fields.List(fields.Nested(FieldRuleSchema), load_default=list)


class RolePatch(Schema):
    name = fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_.-]{0,79}$"))
    label = fields.String(validate=[validate.Length(max=200), no_nul])
    grants = fields.List(fields.Nested(GrantSchema), metadata={"description": "Replaces all grants."})
    field_rules = fields.List(fields.Nested(FieldRuleSchema), metadata={"description": "Replaces all rules."})


class RoleOut(Schema):
    id = fields.Integer()
    name = fields.String()
    label = fields.String()
    builtin = fields.Boolean()
    grants = fields.List(fields.Nested(GrantSchema))
    field_rules = fields.List(fields.Nested(FieldRuleSchema))
    users = fields.Integer()


@blp.route("")
class Roles(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, RoleOut(many=True), headers=PAGINATION_HEADER_DOC)
    def get(self, args):
        """Every role with its grants and field rules."""
        actor = current_actor()
        rows, headers = page_of(scoped(Role.select(), actor, "roles").order_by(Role.name), args)
        return json_response([role_dict(r) for r in rows], 200, headers)

    @blp.arguments(RoleIn)
    @blp.response(201, RoleOut)
    def post(self, data):
        """Create a role; its grants and field rules must not exceed the caller's own (403)."""
        actor = current_actor()
        require(actor, "roles", "create")
        check_contents(data)
        check_delegation(actor, data)
        if Role.select().where(Role.name == data["name"]).exists():
            raise APIError(409, f"Role {data['name']!r} exists.", errors={"name": ["Already taken."]})
        with database.atomic():
            role = Role.create(name=data["name"], label=data.get("label") or data["name"])
            replace_contents(role, data)
            after = role_dict(role)
            record_change("create", "roles", role.id, None, after)
        return json_response(after, 201)


@blp.route("/<role_id>")
class RoleItem(MethodView):
    @blp.response(200, RoleOut)
    def get(self, role_id):
        """One role."""
        return json_response(role_dict(get_record(Role, role_id, current_actor(), "roles")))

    @blp.arguments(RolePatch)
    @blp.response(200, RoleOut)
    def patch(self, data, role_id):
        """Change a role's label, grants (replaced as a whole) or field rules; built-in roles keep
        their name, and the admin role's grants cannot change. Only a role the caller covers can
        change, and only to grants and field rules the caller covers (403 otherwise)."""
        actor = current_actor()
        role = get_record(Role, role_id, actor, "roles", "update")
        if role.builtin and "name" in data and data["name"] != role.name:
            raise APIError(409, "Built-in roles cannot be renamed.", errors={"name": ["Built-in role."]})
        if role.name == ADMIN_ROLE and ("grants" in data or "field_rules" in data):
            raise APIError(
                409, "The admin role's permissions are fixed.", errors={"grants": ["Built-in admin role."]}
            )
        check_contents(data)
        check_delegation(actor, data, role)
        if "name" in data and Role.select().where(Role.name == data["name"], Role.id != role.id).exists():
            raise APIError(409, f"Role {data['name']!r} exists.", errors={"name": ["Already taken."]})
        before = role_dict(role)
        with database.atomic():
            changes = {k: data[k] for k in ("name", "label") if k in data}
            if changes:
                Role.update(**changes, updated_at=utcnow()).where(Role.id == role.id).execute()
            role = Role.get_by_id(role.id)
            replace_contents(role, data)
            after = role_dict(role)
            record_change("update", "roles", role.id, before, after)
        return json_response(after)

    @blp.response(204)
    def delete(self, role_id):
        """Delete a custom role (built-in roles: 409; a role granting more than the caller holds: 403)."""
        actor = current_actor()
        role = get_record(Role, role_id, actor, "roles", "delete")
        if role.builtin:
            raise APIError(409, "Built-in roles cannot be deleted.")
        check_delegation(actor, {}, role)
        with database.atomic():
            before = role_dict(role)
            role.delete_instance(recursive=True)
            invalidate()
            record_change("delete", "roles", before["id"], before, None)
        return "", 204


class ResourceSchema(Schema):
    label = fields.String()
    actions = fields.List(fields.String())
    sensitive = fields.Boolean()


class ResourcesSchema(Schema):
    resources = fields.Dict(keys=fields.String(), values=fields.Nested(ResourceSchema))
    scopes = fields.List(fields.String())
    field_rules = fields.List(fields.String())


@resources_blp.route("")
class Resources(MethodView):
    @resources_blp.response(200, ResourcesSchema)
    def get(self):
        """Resources and actions roles can grant (core and plugins), and the row scopes."""
        current_actor()
        return json_response(
            {"resources": resources(), "scopes": list(SCOPES), "field_rules": list(FIELD_RULES)}
        )
