"""Administration of users: the list of users the admin may read, with a form to create one,
and one user's page (name, e-mail, department, roles, whether they may log in).

Changes go through :func:`crm_core.directory.users.update_user`, the same rules and messages
as ``PATCH /api/v1/users/<id>``.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from .. import permissions
from ..api.users import UserIn, UserPatch
from ..auth.models import Department, Role, User, UserRole
from ..directory.users import add_user, role_names, update_user
from ..errors import APIError
from .admin import need
from .blueprint import bp
from .forms import flatten_messages
from .session import login_required


@bp.route("/admin/users", methods=["GET", "POST"])
@login_required
def admin_users():
    """The users the admin may read (scoped), and a form to create one (through
    :func:`crm_core.directory.users.add_user`, the API's rules)."""
    actor = g.actor
    need("users:read")
    errors, status = {}, 200
    if request.method == "POST":
        form = request.form
        data = {
            "username": form.get("username", "").strip(),
            "password": form.get("password", ""),
            "name": form.get("name", "").strip(),
            "email": form.get("email", "").strip() or None,
            "department_id": form.get("department_id", type=int),
            "roles": form.getlist("roles"),
        }
        try:
            user = add_user(actor, UserIn().load(data))
        except ValidationError as exc:
            errors = flatten_messages(exc.messages)
            errors.setdefault("_schema", [_("Please correct the marked fields.")])
            status = 422
        except APIError as exc:
            if exc.code not in (403, 409, 422):
                raise
            errors = flatten_messages(exc.data.get("errors") or {})
            errors.setdefault("_schema", [exc.message])  # why it was refused, above the form
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


def _form_changes(form, user, current_roles: list[str], rules: dict) -> dict:
    """What the user form changes: each input whose value differs from the stored one (the form
    posts every input; an unchanged one is no change, so it needs no permission). Inputs hidden
    or read-only for the editor are not on the form: their values stay."""
    posted = {
        "name": form.get("name", "").strip(),
        "email": form.get("email", "").strip() or None,
        "department_id": form.get("department_id", type=int),
        "is_active": bool(form.get("is_active")),
    }
    stored = {
        "name": user.name,
        "email": user.email,
        "department_id": user.department_id,
        "is_active": user.is_active,
    }
    changes = {
        k: v
        for k, v in posted.items()
        if v != stored[k] and not rules.get(k.removesuffix("_id"), rules.get(k))
    }
    roles = sorted(form.getlist("roles"))
    if roles != current_roles:
        changes["roles"] = roles
    return changes


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def admin_user(user_id):
    """Change a user's name, e-mail, department, roles and whether they may log in, through
    :func:`crm_core.directory.users.update_user` (the API's rules and messages: nobody changes a
    user who holds more than they do, removes their own admin role or deactivates themselves)."""
    actor = g.actor
    user = permissions.get_record(User, user_id, actor, "users")
    current_roles = role_names(user)
    rules = permissions.field_rules(actor, "users")
    errors, status = {}, 200
    if request.method == "POST":
        try:
            changes = UserPatch().load(_form_changes(request.form, user, current_roles, rules))
            user = update_user(actor, user, changes)
        except ValidationError as exc:
            errors = flatten_messages(exc.messages)
            errors.setdefault("_schema", [_("Please correct the marked fields.")])
            status = 422
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
