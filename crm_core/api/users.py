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
from ..auth import (
    current_actor,
    record_change,
    revoke_user_tokens,
    set_password,
    user_dict,
)
from ..auth.models import Role, User, UserRole
from ..auth.passwords import verify_password
from ..db import database, utcnow
from ..directory.users import add_user, check_manages, update_user
from ..errors import APIError
from . import API_PREFIX, Blueprint
from .common import PageArgs, no_nul, text
from .paging import PAGINATION_HEADER_DOC, page_of
from .responses import json_response

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


def _visible(actor, data):
    return permissions.mask(actor, "users", data)


@blp.route("")
class Users(MethodView):
    @blp.arguments(UserListArgs, location="query")
    @blp.response(200, UserOut(many=True), headers=PAGINATION_HEADER_DOC)
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
        user = add_user(actor, data)
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
        more than the caller (an administrator, for anyone else) cannot be changed: 403. The rules
        are :func:`crm_core.directory.users.update_user`'s, the same as the workbench's."""
        actor = current_actor()
        user = permissions.get_record(User, user_id, actor, "users", "update")
        user = update_user(actor, user, data)
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
