"""Administration of departments: the tree with each department's users, adding a department
under any node, renaming, moving (never below itself) and deleting (refused while anything is
in it), through the API's functions in :mod:`crm_core.api.departments`.
"""

from __future__ import annotations

import peewee as pw
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import permissions
from ..api.departments import change_department, new_department, remove_department
from ..auth.models import Department, User
from ..errors import APIError
from .blueprint import bp
from .messages import translate_message
from .session import login_required


@bp.route("/admin/departments", methods=["GET", "POST"])
@login_required
def admin_departments():
    """The department tree with each department's users, a form to add a department under any
    node, and per department: rename, move (never below itself) and delete (refused while
    anything is in it)."""
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
    details = [m for msgs in (exc.data.get("errors") or {}).values() if isinstance(msgs, list) for m in msgs]
    message = translate_message(exc.message)
    parts = [translate_message(d) for d in details]
    return " ".join([message, *[p for p in parts if p != message]]).strip()


@bp.route("/admin/departments/<int:department_id>", methods=["POST"])
@login_required
def admin_department_edit(department_id):
    """Rename a department and/or move it (with everything below it) under another parent,
    through the API's rules (``departments:update``, no cycle, the new parent in scope)."""
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
