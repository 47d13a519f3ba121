"""Administration of users: the list of users the admin may read, with a form to create one,
and one user's page (name, e-mail, department, roles, whether they may log in).

Changes go through :func:`crm_core.directory.users.update_user`, the same rules and messages
as ``PATCH /api/v1/users/<id>``.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import permissions
from ..auth import ADMIN_ROLE, create_user, record_change, revoke_user_tokens, user_dict
from ..auth.api_users import _check_roles as check_roles
from ..auth.api_users import check_manages
from ..auth.models import Department, Role, User, UserRole
from ..db import database
from ..errors import APIError
from .admin import need
from .blueprint import bp
from .forms import flatten_messages
from .session import login_required


@bp.route("/admin/users", methods=["GET", "POST"])
@login_required
def admin_users():
    """The users the admin may read (scoped), and a form to create one."""

    actor = g.actor
    need("users:read")
    errors, status = {}, 200
    if request.method == "POST":
        permissions.require(actor, "users", "create")
        form = request.form
        department = form.get("department_id", type=int)
        roles = form.getlist("roles")
        try:
            with database.atomic():
                permissions.check_assignment(actor, "users", "create", None, department)
                if roles:  # the API's rule: roles:update to hand out roles, admin only by an admin
                    check_roles(actor, roles)
                user = create_user(
                    form.get("username", "").strip(),
                    form.get("password", ""),
                    roles=roles,
                    department_id=department,
                    name=form.get("name", "").strip(),
                    email=form.get("email", "").strip() or None,
                )
        except APIError as exc:
            if exc.code not in (403, 409, 422):
                raise
            errors = flatten_messages(exc.data.get("errors") or {}) or {"_schema": [exc.message]}
            status = exc.code
        else:
            flash(_("User %(name)s created.", name=user.username), "success")
            return redirect(url_for("web.admin_users"))
    users = list(
        permissions.scoped(User.select(), actor, "users", "read", model=User).order_by(User.username)
    )
    roles_of: dict[int, list[str]] = {}
    if users:
        for user_id, name in (
            UserRole.select(UserRole.user, Role.name)
            .join(Role)
            .where(UserRole.user.in_([u.id for u in users]))
            .tuples()
        ):
            roles_of.setdefault(user_id, []).append(name)
    departments = {d.id: d.name for d in Department.select()}
    return render_template(
        "crm/admin/users.html",
        rules=permissions.field_rules(actor, "users"),
        users=users,
        roles_of=roles_of,
        departments=departments,
        all_roles=list(Role.select().order_by(Role.name)),
        can_create=permissions.can(actor, "users", "create"),
        errors=errors,
        form=request.form if errors else {},
    ), status


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def admin_user(user_id):
    """Change a user's name, e-mail, department, roles and whether they may log in, with the
    API's rules: ``users:update`` on that user, the department inside the editor's scope,
    ``roles:update`` to change roles (``admin`` only by an admin), and nobody removes their own
    admin role or deactivates themselves, and nobody changes a user who holds more than they do.
    Deactivation revokes the user's tokens."""

    actor = g.actor
    user = permissions.get_record(User, user_id, actor, "users")
    current_roles = sorted(r.name for r in Role.select().join(UserRole).where(UserRole.user == user))
    rules = permissions.field_rules(actor, "users")
    errors, status = {}, 200
    if request.method == "POST":
        permissions.require(actor, "users", "update", user)
        form = request.form
        data = {
            "name": form.get("name", "").strip(),
            "email": form.get("email", "").strip() or None,
            "department_id": form.get("department_id", type=int),
            "is_active": bool(form.get("is_active")),
        }
        roles = sorted(form.getlist("roles"))
        # fields hidden or read-only for the editor are not on the form: keep their values
        data = {k: v for k, v in data.items() if not rules.get(k.removesuffix("_id"), rules.get(k))}
        try:
            check_manages(actor, user)
            if "department_id" in data and data["department_id"] != user.department_id:
                permissions.check_assignment(actor, "users", "update", None, data["department_id"])
                if not Department.select().where(Department.id == data["department_id"]).exists() and (
                    data["department_id"] is not None
                ):
                    raise APIError(
                        422, _("No such department."), errors={"department_id": [_("No such department.")]}
                    )
            if roles != current_roles:
                check_roles(actor, roles)
                if user.id == actor.id and ADMIN_ROLE in current_roles and ADMIN_ROLE not in roles:
                    raise APIError(
                        409, _("You cannot remove your own admin role."), errors={"roles": ["admin"]}
                    )
            if data.get("is_active") is False and user.id == actor.id:
                raise APIError(
                    409, _("You cannot deactivate yourself."), errors={"is_active": [_("Yourself.")]}
                )
            before = user_dict(user)
            with database.atomic():
                changes = {k: v for k, v in data.items() if k != "department_id"}
                if "department_id" in data:
                    changes["department"] = data["department_id"]
                if changes:
                    User.update(**changes).where(User.id == user.id).execute()
                if roles != current_roles:
                    UserRole.delete().where(UserRole.user == user).execute()
                    for role in Role.select().where(Role.name.in_(roles)):
                        UserRole.create(user=user, role=role)
                if data.get("is_active") is False and user.is_active:
                    revoke_user_tokens(user)
                user = User.get_by_id(user.id)
                record_change("update", "users", user.id, before, user_dict(user))
        except APIError as exc:
            if exc.code not in (403, 409, 422):
                raise
            errors = flatten_messages(exc.data.get("errors") or {}) or {"_schema": [exc.message]}
            errors.setdefault("_schema", [exc.message])
            status = exc.code
        else:
            flash(_("User %(name)s saved.", name=user.username), "success")
            return redirect(url_for("web.admin_users"))
    return render_template(
        "crm/admin/user.html",
        user=user,
        user_roles=current_roles,
        all_roles=list(Role.select().order_by(Role.name)),
        departments={d.id: d.name for d in Department.select().order_by(Department.path)},
        can_update=permissions.can(actor, "users", "update", user) and permissions.covers_user(actor, user),
        rules=rules,
        errors=errors,
    ), status
