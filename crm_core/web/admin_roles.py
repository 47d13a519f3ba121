"""Administration of roles: the list of roles, and one role's permission matrix (resource x
action -> scope) with its field rules, saved with the API's validation and no-escalation check.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import permissions
from ..auth import ADMIN_ROLE, record_change
from ..auth.models import Role
from ..db import database
from ..directory.roles import check_contents, check_delegation, replace_contents
from ..errors import APIError
from ..permissions.models import role_dict
from .blueprint import bp
from .forms import flatten_messages
from .session import login_required

SCOPE_LABELS = {
    "own": _l("own"),
    "department": _l("department"),
    "department_tree": _l("department and below"),
    "all": _l("all"),
}
FIELD_RULE_LABELS = {
    "hidden": _l("hidden"),
    "masked": _l("masked (shown partly)"),
    "masked-writable": _l("masked, writable (shown partly, may be typed)"),
    "read-only": _l("read-only"),
}


@bp.route("/admin/roles")
@login_required
def admin_roles():
    """Every role with how many grants, field rules and users it has."""
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
            check_contents(data)
            check_delegation(actor, data, role)
            before = role_dict(role)
            with database.atomic():
                if label and label != role.label:
                    Role.update(label=label).where(Role.id == role.id).execute()
                replace_contents(role, data)
                role = Role.get_by_id(role.id)
                record_change("update", "roles", role.id, before, role_dict(role))
        except APIError as exc:
            if exc.code not in (403, 409, 422):
                raise
            errors = flatten_messages(exc.data.get("errors") or {}) or {"_schema": [exc.message]}
            status = exc.code
        else:
            flash(_("Role saved."), "success")
            return redirect(url_for("web.admin_role", role_id=role.id))
    data = role_dict(role)
    granted = {(gr["resource"], gr["action"]): gr["scope"] for gr in data["grants"]}
    return render_template(
        "crm/admin/role.html",
        role=data,
        resources=resources,
        granted=granted,
        scopes=[(s, str(SCOPE_LABELS.get(s, s))) for s in permissions.SCOPES],
        field_rules=[(r, str(FIELD_RULE_LABELS.get(r, r))) for r in permissions.FIELD_RULES],
        editable=editable and covered,
        errors=errors,
    ), status


@bp.route("/admin/roles/new", methods=["POST"])
@login_required
def admin_role_new():
    """Create an empty role and open its matrix."""
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
