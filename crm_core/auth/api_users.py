"""``/api/v1/users``: people who log in, their roles and departments; ``/users/me`` and
password changes (which revoke every other token of the user).

No escalation (``crm_core.permissions.delegation``): assigning roles needs ``roles:update`` and
every grant of each role (the admin role: an administrator); changing, resetting the password
of, deactivating or deleting a user needs every grant that user holds (an administrator: only
another administrator). Otherwise 403 with the reasons in ``errors`` (``roles`` / ``user``)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from .. import permissions
from ..api import API_PREFIX, Blueprint
from ..db import database, utcnow
from ..errors import APIError
from . import (
    ADMIN_ROLE,
    create_user,
    current_actor,
    record_change,
    revoke_user_tokens,
    set_password,
    user_dict,
)
from .api_common import PageArgs, json_response, no_nul, page_of, text
from .models import Department, Role, User, UserRole
from .passwords import verify_password

blp = Blueprint("users", __name__, url_prefix=f"{API_PREFIX}/users", description="Users")


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    is_active = fields.Boolean()
    department_id = fields.Integer(allow_none=True)
    language = fields.String(allow_none=True)
    roles = fields.List(fields.String())
    locked_until = fields.String(allow_none=True)
    created_at = fields.String()


class MeOut(UserOut):
    client_id = fields.String(allow_none=True, metadata={"description": "The OAuth2 client acting, if any"})
    scopes = fields.List(fields.String(), allow_none=True, metadata={"description": "null: no restriction"})
    permissions = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.String(allow_none=True)),
        metadata={"description": "{resource: {action: scope or null}}"},
    )


class UserIn(Schema):
    username = fields.String(required=True, validate=[validate.Length(min=1, max=150), no_nul])
    password = fields.String(required=True, load_only=True, validate=[validate.Length(max=1024), no_nul])
    name = fields.String(load_default="", validate=[validate.Length(max=200), no_nul])
    email = fields.Email(allow_none=True, load_default=None)
    department_id = fields.Integer(allow_none=True, load_default=None)
    roles = fields.List(fields.String(validate=no_nul), load_default=list)


class UserPatch(Schema):
    name = fields.String(validate=[validate.Length(max=200), no_nul])
    email = fields.Email(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    roles = fields.List(fields.String(validate=no_nul))
    is_active = fields.Boolean()
    language = fields.String(allow_none=True, validate=validate.Length(max=10))
    password = fields.String(load_only=True, validate=[validate.Length(max=1024), no_nul])


class PasswordChange(Schema):
    current_password = fields.String(required=True, load_only=True, validate=no_nul)
    new_password = fields.String(required=True, load_only=True, validate=[validate.Length(max=1024), no_nul])


class UserListArgs(PageArgs):
    q = text(200)
    department_id = fields.Integer()
    role = text(80)
    is_active = fields.Boolean()


def _check_roles(actor, names) -> None:
    """Changing roles needs ``roles:update`` and every grant of each role assigned; only an admin
    hands out ``admin`` (no escalation)."""
    permissions.require(actor, "roles", "update")
    if ADMIN_ROLE in names and not actor.is_admin:
        raise APIError(403, "Only an administrator can grant the admin role.", errors={"roles": ["admin"]})
    missing = (
        sorted(set(names) - {r.name for r in Role.select().where(Role.name.in_(list(names)))})
        if names
        else []
    )
    if missing:
        raise APIError(422, "Invalid user.", errors={"roles": [f"Unknown role(s): {', '.join(missing)}."]})
    permissions.require_covers_roles(actor, names)


def check_manages(actor, user) -> None:
    """403 unless ``actor`` may change ``user`` at all: it covers every grant of ``user``."""
    permissions.require_covers_user(actor, user)


def _visible(actor, data):
    return permissions.mask(actor, "users", data)


@blp.route("")
class Users(MethodView):
    @blp.arguments(UserListArgs, location="query")
    @blp.response(200, UserOut(many=True), headers={"X-Pagination": {"schema": {"type": "string"}}})
    def get(self, args):
        """List the users inside the caller's scope."""
        actor = current_actor()
        query = permissions.scoped(User.select(), actor, "users").order_by(User.username)
        if args.get("q"):
            needle = args["q"].lower()
            query = query.where(User.username.contains(needle) | User.name.contains(needle))
        if "department_id" in args:
            query = query.where(User.department == args["department_id"])
        if "is_active" in args:
            query = query.where(User.is_active == args["is_active"])
        if args.get("role"):
            query = query.where(
                User.id.in_(UserRole.select(UserRole.user).join(Role).where(Role.name == args["role"]))
            )
        rows, headers = page_of(query, args)
        return json_response(_visible(actor, [user_dict(u) for u in rows]), 200, headers)

    @blp.arguments(UserIn)
    @blp.response(201, UserOut)
    def post(self, data):
        """Create a user (placed inside the caller's scope)."""
        actor = current_actor()
        permissions.require(actor, "users", "create")
        permissions.check_writable(actor, "users", data)
        permissions.check_assignment(actor, "users", "create", None, data.get("department_id"))
        if data["roles"]:
            _check_roles(actor, data["roles"])
        with database.atomic():
            user = create_user(
                data["username"],
                data["password"],
                roles=data["roles"],
                department_id=data.get("department_id"),
                name=data.get("name", ""),
                email=data.get("email"),
            )
        return json_response(_visible(actor, user_dict(user)), 201)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeOut)
    def get(self):
        """The caller's own profile, roles and effective permissions."""
        actor = current_actor()
        data = user_dict(actor.user)
        data["client_id"] = actor.client_id
        data["scopes"] = sorted(actor.scopes) if actor.scopes is not None else None
        data["permissions"] = {
            name: {a: permissions.effective_scope(actor, name, a) for a in entry["actions"]}
            for name, entry in permissions.resources().items()
            if "*" not in name
        }
        return json_response(data)


@blp.route("/me/password")
class MyPassword(MethodView):
    @blp.arguments(PasswordChange)
    @blp.response(204)
    def post(self, data):
        """Change one's own password; every other token of the user is revoked."""
        actor = current_actor()
        if actor.client_id:
            raise APIError(403, "OAuth clients cannot change passwords.")
        user = User.get_by_id(actor.id)
        if not verify_password(user.password_hash, data["current_password"]):
            raise APIError(
                403, "The current password is wrong.", errors={"current_password": ["Wrong password."]}
            )
        with database.atomic():
            set_password(user, data["new_password"], keep_token_id=actor.token_id)
            record_change(
                "update",
                "users",
                user.id,
                {"password_changed_at": None},
                {"password_changed_at": utcnow().isoformat()},
            )
        return "", 204


@blp.route("/<user_id>")
class UserItem(MethodView):
    @blp.response(200, UserOut)
    def get(self, user_id):
        """One user (404 outside the caller's scope)."""
        actor = current_actor()
        user = permissions.get_record(User, user_id, actor, "users")
        return json_response(_visible(actor, user_dict(user)))

    @blp.arguments(UserPatch)
    @blp.response(200, UserOut)
    def patch(self, data, user_id):
        """Change a user; a new password or deactivation revokes the user's tokens. A user who holds
        more than the caller (an administrator, for anyone else) cannot be changed: 403."""
        actor = current_actor()
        user = permissions.get_record(User, user_id, actor, "users", "update")
        permissions.check_writable(actor, "users", data)
        check_manages(actor, user)
        if "department_id" in data:
            permissions.check_assignment(actor, "users", "update", None, data["department_id"])
            if (
                data["department_id"] is not None
                and not Department.select().where(Department.id == data["department_id"]).exists()
            ):
                raise APIError(
                    422,
                    "Invalid user.",
                    errors={"department_id": [f"No department {data['department_id']}."]},
                )
        if "roles" in data:
            _check_roles(actor, data["roles"])
            if user.id == actor.id and ADMIN_ROLE in actor.roles and ADMIN_ROLE not in data["roles"]:
                raise APIError(409, "You cannot remove your own admin role.", errors={"roles": ["admin"]})
        if data.get("is_active") is False and user.id == actor.id:
            raise APIError(409, "You cannot deactivate yourself.", errors={"is_active": ["Yourself."]})
        before = user_dict(user)
        with database.atomic():
            changes = {k: data[k] for k in ("name", "email", "is_active", "language") if k in data}
            if "department_id" in data:
                changes["department"] = data["department_id"]
            if changes:
                changes["updated_at"] = utcnow()
                User.update(**changes).where(User.id == user.id).execute()
            if "roles" in data:
                UserRole.delete().where(UserRole.user == user).execute()
                for role in Role.select().where(Role.name.in_(list(data["roles"]))):
                    UserRole.create(user=user, role=role)
            if "password" in data:
                set_password(user, data["password"])
            if data.get("is_active") is False:
                revoke_user_tokens(user)
            user = User.get_by_id(user.id)
            after = user_dict(user)
            if "password" in data:
                after["password_changed_at"] = utcnow().isoformat()
            record_change("update", "users", user.id, before, after)
        return json_response(_visible(actor, user_dict(user)))

    @blp.response(204)
    def delete(self, user_id):
        """Deactivate a user and revoke their tokens (the row stays: the audit log refers to it)."""
        actor = current_actor()
        user = permissions.get_record(User, user_id, actor, "users", "delete")
        if user.id == actor.id:
            raise APIError(409, "You cannot delete yourself.")
        check_manages(actor, user)
        with database.atomic():
            before = user_dict(user)
            User.update(is_active=False, updated_at=utcnow()).where(User.id == user.id).execute()
            revoke_user_tokens(user)
            record_change("delete", "users", user.id, before, None)
        return "", 204
