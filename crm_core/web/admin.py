"""Administration pages: users, roles (permission matrix and field rules), departments, custom
fields, webhooks with their delivery log, scheduled jobs and their runs, plugins, and the audit
log with its chain verification.

Each page checks the same permission the matching API checks (``users:read``, ``roles:update``,
``fields:create``...; jobs and plugins are admin-only as in the API) and writes through the owning
module's functions, so the audit log and events see web changes exactly like API ones. The same
no-escalation rules apply (``crm_core.permissions.delegation``): a role matrix saves only grants
and field rules the editor covers, roles are assigned only by someone who holds all their grants,
and a user who holds more than the editor cannot be changed.
"""

from __future__ import annotations

import peewee as pw
from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import permissions
from ..db import database
from ..errors import APIError
from .blueprint import bp
from .forms import flatten_messages
from .session import login_required

SECTIONS = [
    # (endpoint, permission "resource:action" or "admin", label)
    ("web.admin_users", "users:read", _l("Users")),
    ("web.admin_roles", "roles:read", _l("Roles and permissions")),
    ("web.admin_departments", "departments:read", _l("Departments")),
    ("web.admin_fields", "fields:create", _l("Custom fields")),
    ("web.admin_webhooks", "webhooks:read", _l("Webhooks")),
    ("web.record_list:automations", "automations:read", _l("Automation rules")),
    ("web.admin_jobs", "admin", _l("Scheduled jobs")),
    ("web.admin_plugins", "admin", _l("Plugins")),
    ("web.admin_audit", "audit:read", _l("Audit log")),
]

SCOPE_LABELS = {
    "own": _l("own"),
    "department": _l("department"),
    "department_tree": _l("department and below"),
    "all": _l("all"),
}

#: The permissions that make the Administration menu entry appear (any one of them). Reading
#: users and departments is not among them: every built-in role reads its colleagues and the
#: department tree (owner and department names on every page), which makes nobody an
#: administrator; changing them does.
ADMIN_PERMISSIONS = [
    "users:create",
    "users:update",
    "roles:read",
    "departments:create",
    "departments:update",
    "departments:delete",
    "fields:create",
    "fields:update",
    "webhooks:read",
    "automations:read",
    "audit:read",
]


def _may(actor, permission: str) -> bool:
    if permission == "admin":
        return bool(actor.is_admin)
    resource, action = permission.split(":")
    return permissions.can(actor, resource, action)


def _need(permission: str) -> None:
    if not _may(g.actor, permission):
        raise APIError(403, _("You may not use this page."))


@bp.route("/admin/")
@login_required
def admin_home():
    """Links to the administration pages this user may use."""
    from .nav import allowed

    if not allowed(g.actor, ADMIN_PERMISSIONS):  # the same rule as the menu entry
        raise APIError(403, _("You may not use this page."))
    sections = []
    for endpoint, perm, label in SECTIONS:
        if _may(g.actor, perm):
            endpoint, _sep, resource = endpoint.partition(":")
            args = {"resource": resource} if resource else {}
            sections.append((url_for(endpoint, **args), str(label)))
    if not sections:
        raise APIError(403, _("You may not use this page."))
    return render_template("crm/admin/index.html", sections=sections)


# --- users -----------------------------------------------------------------------------------------


@bp.route("/admin/users", methods=["GET", "POST"])
@login_required
def admin_users():
    """The users the admin may read (scoped), and a form to create one."""
    from ..auth import create_user
    from ..auth.api_users import _check_roles as check_roles
    from ..auth.models import Department, Role, User, UserRole

    actor = g.actor
    _need("users:read")
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
    from ..auth import ADMIN_ROLE, record_change, revoke_user_tokens, user_dict
    from ..auth.api_users import _check_roles as check_roles
    from ..auth.api_users import check_manages
    from ..auth.models import Department, Role, User, UserRole

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


# --- roles: the permission matrix ------------------------------------------------------------------


@bp.route("/admin/roles")
@login_required
def admin_roles():
    """Every role with how many grants, field rules and users it has."""
    from ..auth.models import Role
    from ..permissions.api import role_dict

    actor = g.actor
    roles = [
        role_dict(r)
        for r in permissions.scoped(Role.select(), actor, "roles", "read", model=Role).order_by(Role.name)
    ]
    return render_template(
        "crm/admin/roles.html", roles=roles, can_create=permissions.can(actor, "roles", "create")
    )


def _matrix_from_form(form, resources: dict) -> tuple[list[dict], list[dict]]:
    """Grants and field rules from the matrix form: ``grant:<resource>:<action>`` = scope (blank:
    not granted), ``rule_resource``/``rule_field``/``rule`` rows for field rules."""
    grants = []
    for resource, info in resources.items():
        for action in info["actions"]:
            scope = form.get(f"grant:{resource}:{action}", "")
            if scope:
                grants.append({"resource": resource, "action": action, "scope": scope})
    rules = []
    for res, field, rule in zip(
        form.getlist("rule_resource"), form.getlist("rule_field"), form.getlist("rule"), strict=False
    ):
        if res.strip() and field.strip() and rule in permissions.FIELD_RULES:
            rules.append({"resource": res.strip(), "field": field.strip(), "rule": rule})
    return grants, rules


@bp.route("/admin/roles/<int:role_id>", methods=["GET", "POST"])
@login_required
def admin_role(role_id):
    """The permission matrix of one role (resource x action -> scope) and its field rules.

    Saving replaces the role's grants and field rules as the API's PATCH does (validated and
    checked for escalation the same way, audited as a ``roles`` update); the admin role's
    permissions cannot change, and a role granting more than the editor holds is read-only.
    """
    from ..auth import ADMIN_ROLE, record_change
    from ..auth.models import Role
    from ..permissions import api as roles_api

    actor = g.actor
    role = permissions.get_record(Role, role_id, actor, "roles")
    resources = permissions.resources()
    errors, status = {}, 200
    editable = role.name != ADMIN_ROLE and permissions.can(actor, "roles", "update", role)
    covered = not permissions.roles_problems(actor, [role.name])
    if request.method == "POST":
        if not editable:
            raise APIError(403, _("This role cannot be changed."))
        grants, rules = _matrix_from_form(request.form, resources)
        data = {"grants": grants, "field_rules": rules}
        label = request.form.get("label", "").strip()
        try:
            roles_api._validate(data)
            roles_api.check_delegation(actor, data, role)
            before = roles_api.role_dict(role)
            with database.atomic():
                if label and label != role.label:
                    Role.update(label=label).where(Role.id == role.id).execute()
                roles_api._replace(role, data)
                role = Role.get_by_id(role.id)
                record_change("update", "roles", role.id, before, roles_api.role_dict(role))
        except APIError as exc:
            if exc.code not in (403, 409, 422):
                raise
            errors = flatten_messages(exc.data.get("errors") or {}) or {"_schema": [exc.message]}
            status = exc.code
        else:
            flash(_("Role saved."), "success")
            return redirect(url_for("web.admin_role", role_id=role.id))
    data = roles_api.role_dict(role)
    granted = {(gr["resource"], gr["action"]): gr["scope"] for gr in data["grants"]}
    return render_template(
        "crm/admin/role.html",
        role=data,
        resources=resources,
        granted=granted,
        scopes=[(s, str(SCOPE_LABELS.get(s, s))) for s in permissions.SCOPES],
        field_rule_names=permissions.FIELD_RULES,
        editable=editable and covered,
        errors=errors,
    ), status


@bp.route("/admin/roles/new", methods=["POST"])
@login_required
def admin_role_new():
    """Create an empty role and open its matrix."""
    from ..auth import record_change
    from ..auth.models import Role
    from ..permissions.api import role_dict

    permissions.require(g.actor, "roles", "create")
    name = request.form.get("name", "").strip()
    if not name or len(name) > 80:
        flash(_("Give the role a name (up to 80 characters)."), "error")
        return redirect(url_for("web.admin_roles"))
    if Role.select().where(Role.name == name).exists():
        flash(_("A role with this name exists."), "error")
        return redirect(url_for("web.admin_roles"))
    with database.atomic():
        role = Role.create(name=name, label=request.form.get("label", "").strip() or name)
        record_change("create", "roles", role.id, None, role_dict(role))
    return redirect(url_for("web.admin_role", role_id=role.id))


# --- departments -----------------------------------------------------------------------------------


@bp.route("/admin/departments", methods=["GET", "POST"])
@login_required
def admin_departments():
    """The department tree with each department's users, a form to add a department under any
    node, and per department: rename, move (never below itself) and delete (refused while
    anything is in it)."""
    from ..auth.api_departments import new_department
    from ..auth.models import Department, User

    actor = g.actor
    if request.method == "POST":
        try:
            new_department(actor, request.form.get("name", ""), request.form.get("parent_id", type=int))
        except APIError as exc:
            if exc.code not in (403, 409, 422):
                raise
            flash(_error_text(exc), "error")
        else:
            flash(_("Department created."), "success")
        return redirect(url_for("web.admin_departments"))
    rows = list(
        permissions.scoped(Department.select(), actor, "departments", "read", model=Department).order_by(
            Department.path
        )
    )
    children: dict = {}
    ids = {d.id for d in rows}
    for d in rows:
        parent = d.parent_id if d.parent_id in ids else None
        children.setdefault(parent, []).append(d)
    users = {}
    if ids:
        users = dict(
            User.select(User.department, pw.fn.COUNT(User.id))
            .where(User.department.in_(list(ids)))
            .group_by(User.department)
            .tuples()
        )
    return render_template(
        "crm/admin/departments.html",
        children=children,
        departments=rows,
        users=users,
        can_create=permissions.can(actor, "departments", "create"),
        can_update=permissions.can(actor, "departments", "update"),
        can_delete=permissions.can(actor, "departments", "delete"),
    )


def _error_text(exc: APIError) -> str:
    """One line for a flash message in the reader's language: the error and what it says about
    each field."""
    from .messages import translate_message

    details = [m for msgs in (exc.data.get("errors") or {}).values() if isinstance(msgs, list) for m in msgs]
    message = translate_message(exc.message)
    parts = [translate_message(d) for d in details]
    return " ".join([message, *[p for p in parts if p != message]]).strip()


def _blocking_reason(reason: str) -> str:
    """Why one stored value is in the way (``'a': Must be one of: b.``), in the reader's language:
    the value as stored, then the validator's message translated."""
    from .messages import translate_message

    if reason == "no value":
        return _("no value")
    value, sep, message = str(reason).partition(": ")
    return f"{value}{sep}{translate_message(message)}" if sep else translate_message(reason)


@bp.route("/admin/departments/<int:department_id>", methods=["POST"])
@login_required
def admin_department_edit(department_id):
    """Rename a department and/or move it (with everything below it) under another parent,
    through the API's rules (``departments:update``, no cycle, the new parent in scope)."""
    from ..auth.api_departments import change_department
    from ..auth.models import Department

    actor = g.actor
    dept = permissions.get_record(Department, department_id, actor, "departments", "update")
    data = {}
    if "name" in request.form:
        data["name"] = request.form.get("name", "")
    if "parent_id" in request.form:
        raw = request.form.get("parent_id", "").strip()
        if raw and not raw.isdigit():
            flash(_("Choose a department."), "error")
            return redirect(url_for("web.admin_departments"))
        data["parent_id"] = int(raw) if raw else None
    try:
        dept = change_department(actor, dept, data)
    except APIError as exc:
        if exc.code not in (403, 409, 422):
            raise
        flash(_error_text(exc), "error")
    else:
        flash(_("Department %(name)s saved.", name=dept.name), "success")
    return redirect(url_for("web.admin_departments"))


@bp.route("/admin/departments/<int:department_id>/delete", methods=["POST"])
@login_required
def admin_department_delete(department_id):
    """Delete an empty department; while users, records or sub-departments are in it the
    message says which, and nothing is changed."""
    from ..auth.api_departments import remove_department
    from ..auth.models import Department

    dept = permissions.get_record(Department, department_id, g.actor, "departments", "delete")
    try:
        remove_department(dept)
    except APIError as exc:
        if exc.code != 409:
            raise
        flash(_error_text(exc), "error")
    else:
        flash(_("Department %(name)s deleted.", name=dept.name), "success")
    return redirect(url_for("web.admin_departments"))


# --- custom fields ---------------------------------------------------------------------------------


def _choices_from_form(raw: str, current=()) -> list:
    """Choices typed as ``a, b, c`` (full-width commas too); a value that was already a choice
    keeps its labels."""
    labels = {c["value"]: c.get("label") for c in current}
    values = [c.strip() for c in raw.replace("，", ",").split(",") if c.strip()]
    return [{"value": v, "label": labels[v]} if labels.get(v) else v for v in values]


@bp.route("/admin/fields", methods=["GET", "POST"])
@login_required
def admin_fields():
    """Custom fields of one entity: the list, and a form to add one (it shows up in that
    entity's forms and lists at once)."""
    from ..metadata import FIELD_TYPES, custom_fields, definitions, known_entities

    actor = g.actor
    _need("fields:create")
    entities = known_entities()
    entity = request.values.get("entity") or (entities[0] if entities else "")
    if entity not in entities:
        abort(404)
    errors, status, form = {}, 200, {}
    if request.method == "POST":
        form = request.form
        data = {
            "name": form.get("name", "").strip(),
            "type": form.get("type", ""),
            "label": {"en": form.get("label_en", "").strip(), "zh-CN": form.get("label_zh", "").strip()},
            "required": bool(form.get("required")),
            "unique": bool(form.get("unique")),
            "filterable": bool(form.get("filterable")),
        }
        choices = _choices_from_form(form.get("choices", ""))
        if data["type"] in ("choice", "multi-choice"):
            data["choices"] = choices
        if form.get("default", "") != "":
            data["default"] = form.get("default")
        try:
            definitions.create_field(entity, data)
        except APIError as exc:
            if exc.code not in (409, 422):
                raise
            errors = flatten_messages(exc.data.get("errors") or {}) or {"_schema": [exc.message]}
            status = exc.code
        else:
            flash(_("Field %(name)s added.", name=data["name"]), "success")
            return redirect(url_for("web.admin_fields", entity=entity))
    return render_template(
        "crm/admin/fields.html",
        entities=entities,
        entity=entity,
        fields=custom_fields(entity),
        types=FIELD_TYPES,
        errors=errors,
        form=form,
        can_delete=permissions.can(actor, "fields", "delete"),
        can_update=permissions.can(actor, "fields", "update"),
        can_create_type=permissions.can(actor, "object_types", "create"),
    ), status


@bp.route("/admin/fields/<entity>/<name>", methods=["GET", "POST"])
@login_required
def admin_field_edit(entity, name):
    """Edit a custom field's label, help, choices, default and flags (``fields:update``, as the
    API's PATCH). Stored values are never lost: a change they would not fit (a new type, a
    removed choice, ``required`` without a default, ``unique`` over duplicates) is refused
    and the records in the way are listed."""
    from ..metadata import FIELD_TYPES, custom_fields, definitions, known_entities
    from .messages import translate_message

    _need("fields:update")
    if entity not in known_entities():
        abort(404)
    current = next((f for f in custom_fields(entity) if f.name == name), None)
    if current is None:
        abort(404)
    errors, status, blocking = {}, 200, []
    form = request.form
    if request.method == "POST":
        data = {
            "label": {"en": form.get("label_en", "").strip(), "zh-CN": form.get("label_zh", "").strip()},
            "help": {"en": form.get("help_en", "").strip(), "zh-CN": form.get("help_zh", "").strip()},
            "required": bool(form.get("required")),
            "unique": bool(form.get("unique")),
            "filterable": bool(form.get("filterable")),
        }
        if not current.source:  # a plugin's field keeps the type its code expects
            data["type"] = form.get("type", current.type)
        if data.get("type", current.type) in ("choice", "multi-choice"):
            data["choices"] = _choices_from_form(form.get("choices", ""), current.choices)
        default = form.get("default", "")
        data["default"] = default if default != "" else None
        try:
            definitions.update_field(entity, name, data)
        except APIError as exc:
            if exc.code not in (409, 422):
                raise
            found = exc.data.get("errors") or {}
            held = sorted((found.pop("records", None) or {}).items(), key=lambda kv: int(kv[0]))
            blocking = [(rid, _blocking_reason(reason)) for rid, reason in held]
            errors = flatten_messages(found) or {}
            if blocking:  # the API's message names the entity by its code; say it for people
                count = (exc.data.get("extra") or {}).get("count", len(blocking))
                errors.setdefault(
                    "_schema", [_("%(count)s record(s) hold values this change would not keep.", count=count)]
                )
            errors.setdefault("_schema", [translate_message(exc.message)])
            status = exc.code
        else:
            flash(_("Field %(name)s saved.", name=name), "success")
            return redirect(url_for("web.admin_fields", entity=entity))
    return render_template(
        "crm/admin/field_edit.html",
        entity=entity,
        field=current,
        types=FIELD_TYPES,
        errors=errors,
        blocking=blocking,
        form=form if errors else None,
    ), status


@bp.route("/admin/object-types", methods=["POST"])
@login_required
def admin_object_type_new():
    """Define a custom object type (``object_types:create``, as the API); its records get list and
    form pages at once, and its fields are added on the custom fields page."""
    from ..metadata import objects

    permissions.require(g.actor, "object_types", "create")
    name = request.form.get("name", "").strip()
    label = {
        "en": request.form.get("label_en", "").strip(),
        "zh-CN": request.form.get("label_zh", "").strip(),
    }
    try:
        objects.create_type(name, label=label if any(label.values()) else None)
    except APIError as exc:
        if exc.code not in (409, 422):
            raise
        details = " ".join(m for msgs in (exc.data.get("errors") or {}).values() for m in msgs)
        flash(f"{exc.message} {details}".strip(), "error")
        return redirect(url_for("web.admin_fields"))
    flash(_("Object type %(name)s created.", name=name), "success")
    return redirect(url_for("web.admin_fields", entity=f"objects.{name}"))


@bp.route("/admin/fields/<entity>/<name>/delete", methods=["POST"])
@login_required
def admin_field_delete(entity, name):
    """Delete a custom field (its values stay in the records until purged through the API)."""
    from ..metadata import definitions

    permissions.require(g.actor, "fields", "delete")
    definitions.delete_field(entity, name)
    flash(_("Field %(name)s deleted.", name=name), "success")
    return redirect(url_for("web.admin_fields", entity=entity))


# --- webhooks, jobs, plugins, audit ----------------------------------------------------------------


@bp.route("/admin/webhooks")
@login_required
def admin_webhooks():
    """Webhook subscriptions and the delivery log (with attempts) of the chosen one."""
    from ..webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

    actor = g.actor
    subs = list(
        permissions.scoped(
            WebhookSubscription.select(), actor, "webhooks", "read", model=WebhookSubscription
        ).order_by(WebhookSubscription.id)
    )
    chosen = request.args.get("id", type=int)
    deliveries, attempts = [], {}
    if chosen is not None:
        if chosen not in {s.id for s in subs}:
            abort(404)
        deliveries = list(
            WebhookDelivery.select()
            .where(WebhookDelivery.subscription == chosen)
            .order_by(WebhookDelivery.id.desc())
            .limit(100)
        )
        if deliveries:
            for attempt in (
                WebhookAttempt.select()
                .where(WebhookAttempt.delivery.in_([d.id for d in deliveries]))
                .order_by(WebhookAttempt.number)
            ):
                attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return render_template(
        "crm/admin/webhooks.html",
        subs=subs,
        chosen=chosen,
        deliveries=deliveries,
        attempts=attempts,
        can_create=permissions.can(actor, "webhooks", "create"),
    )


@bp.route("/admin/jobs")
@login_required
def admin_jobs():
    """Scheduled jobs the plugins declare and their latest runs (admin only, as in the API)."""
    from ..jobs.models import JobRun
    from ..jobs.registry import collect_jobs

    _need("admin")
    jobs = collect_jobs(current_app.extensions["crm"].plugins)
    runs = list(JobRun.select().order_by(JobRun.id.desc()).limit(100))
    return render_template("crm/admin/jobs.html", jobs=[j.as_dict() for j in jobs.values()], runs=runs)


@bp.route("/admin/plugins")
@login_required
def admin_plugins():
    """Installed plugins: version, status, hooks, and why a plugin failed to load."""
    _need("admin")
    return render_template("crm/admin/plugins.html", plugins=current_app.extensions["crm"].plugins.listing())


@bp.route("/admin/audit", methods=["GET", "POST"])
@login_required
def admin_audit():
    """The audit entries the user may see (hidden fields masked in before/after); a POST (admins)
    seals pending entries and verifies the hash chain, as ``crm audit verify`` does."""
    from ..audit.api import entry_dict, visible_entries
    from ..audit.models import AuditEntry

    actor = g.actor
    permissions.require(actor, "audit", "read")
    query = visible_entries(actor)
    resource = request.args.get("resource", "").strip()
    if resource:
        query = query.where(AuditEntry.resource == resource)
    page = max(1, request.args.get("page", 1, type=int))
    rows = list(query.order_by(AuditEntry.id.desc()).paginate(page, 50))
    verification = None
    if request.method == "POST":
        _need("admin")
        from ..audit import seal, verify

        seal()
        verification = verify()
    return render_template(
        "crm/admin/audit.html",
        entries=[entry_dict(actor, r) for r in rows],
        resource=resource,
        page=page,
        verification=verification,
        can_verify=actor.is_admin,
    )
