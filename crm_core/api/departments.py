"""``/api/v1/departments``: the department tree (any depth; moves keep paths right, no cycles)."""

from __future__ import annotations

from flask.views import MethodView
from flask_babel import gettext as _
from marshmallow import Schema, fields, validate

from .. import permissions
from ..auth import current_actor, record_change
from ..auth.models import Department
from ..db import database
from ..directory.departments import create_department, delete_department, department_dict, move_department
from ..errors import APIError
from . import API_PREFIX, Blueprint
from .common import PageArgs, no_nul
from .paging import PAGINATION_HEADER_DOC, page_of
from .responses import json_response

blp = Blueprint(
    "departments", __name__, url_prefix=f"{API_PREFIX}/departments", description="Department tree"
)


class DepartmentIn(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), no_nul])
    parent_id = fields.Integer(allow_none=True, load_default=None)


class DepartmentPatch(Schema):
    name = fields.String(validate=[validate.Length(min=1, max=200), no_nul])
    parent_id = fields.Integer(allow_none=True)


class DepartmentOut(Schema):
    id = fields.Integer()
    name = fields.String()
    parent_id = fields.Integer(allow_none=True)
    path = fields.String()
    depth = fields.Integer()


class DepartmentListArgs(PageArgs):
    parent_id = fields.Integer()
    root = fields.Integer(metadata={"description": "Only this department and everything below it."})


@blp.route("")
class Departments(MethodView):
    @blp.arguments(DepartmentListArgs, location="query")
    @blp.response(200, DepartmentOut(many=True), headers=PAGINATION_HEADER_DOC)
    def get(self, args):
        """List departments in tree order (by path)."""
        actor = current_actor()
        query = permissions.scoped(Department.select(), actor, "departments").order_by(Department.path)
        if "parent_id" in args:
            query = query.where(Department.parent == args["parent_id"])
        if "root" in args:
            root = Department.get_or_none(Department.id == args["root"])
            query = (
                query.where(Department.id.in_(permissions.subtree_ids(root.path)))
                if root
                else query.where(False)
            )
        rows, headers = page_of(query, args)
        return json_response([department_dict(d) for d in rows], 200, headers)

    @blp.arguments(DepartmentIn)
    @blp.response(201, DepartmentOut)
    def post(self, data):
        """Create a department (below ``parent_id``, or a root)."""
        dept = new_department(current_actor(), data["name"], data.get("parent_id"))
        return json_response(department_dict(dept), 201)


def new_department(actor, name: str, parent_id: int | None) -> Department:
    """Create a department below ``parent_id`` (inside the actor's create scope), audited; the
    API's POST and the admin page both use it."""
    permissions.require(actor, "departments", "create")
    _check_parent(actor, "create", parent_id)
    with database.atomic():
        dept = create_department(name, parent_id)
        record_change("create", "departments", dept.id, None, department_dict(dept))
    return dept


def _check_parent(actor, action: str, parent_id) -> None:
    """403 unless the new parent lies inside ``actor``'s departments scope for ``action``: moving a
    department under one's own would widen every ``department_tree`` scope held there. A root
    (no parent) needs the ``all`` scope."""
    view = permissions.view(actor, "departments", action)
    if parent_id is None:
        inside = view.scope == "all"
    else:
        parent = Department.get_or_none(Department.id == parent_id)
        if parent is None:
            raise APIError(
                422, _("Invalid parent."), errors={"parent_id": [_("No department %(id)s.", id=parent_id)]}
            )
        inside = view.contains(parent)
    if not inside:
        raise APIError(
            403,
            _(
                "You may not place a department outside your departments (scope: %(scope)s).",
                scope=view.scope,
            ),
            errors={"parent_id": [_("Outside your scope.")]},
        )


@blp.route("/<department_id>")
class DepartmentItem(MethodView):
    @blp.response(200, DepartmentOut)
    def get(self, department_id):
        """One department."""
        dept = permissions.get_record(Department, department_id, current_actor(), "departments")
        return json_response(department_dict(dept))

    @blp.arguments(DepartmentPatch)
    @blp.response(200, DepartmentOut)
    def patch(self, data, department_id):
        """Rename a department or move it (with its subtree) below another; 422 on a cycle."""
        actor = current_actor()
        dept = permissions.get_record(Department, department_id, actor, "departments", "update")
        return json_response(department_dict(change_department(actor, dept, data)))

    @blp.response(204)
    @blp.alt_response(409, description="Sub-departments, users or records are still in it")
    def delete(self, department_id):
        """Delete an empty department (409 while it has sub-departments, users or records)."""
        actor = current_actor()
        dept = permissions.get_record(Department, department_id, actor, "departments", "delete")
        remove_department(dept)
        return "", 204


def change_department(actor, dept: Department, data: dict) -> Department:
    """Rename ``dept`` (``name``) and/or move it with its subtree below ``parent_id`` (None: a
    root), audited as one ``departments`` update in one transaction; the API's PATCH and the
    admin page both use it. 422 on a cycle or a bad name, 403 when the new parent lies outside
    the actor's ``departments:update`` scope. Row scopes follow at once: they are read from the
    paths this rewrites."""
    before = department_dict(dept)
    with database.atomic():
        if "name" in data:
            name = (data["name"] or "").strip()
            if not name or len(name) > 200:
                raise APIError(
                    422, _("Invalid department."), errors={"name": [_("Must be 1 to 200 characters.")]}
                )
            Department.update(name=name).where(Department.id == dept.id).execute()
        if "parent_id" in data and data["parent_id"] != dept.parent_id:
            if data["parent_id"] == dept.id:
                raise APIError(
                    422,
                    _("A department cannot be its own parent."),
                    errors={"parent_id": [_("Would create a cycle in the department tree.")]},
                )
            _check_parent(actor, "update", data["parent_id"])
            move_department(dept, data["parent_id"])
        dept = Department.get_by_id(dept.id)
        record_change("update", "departments", dept.id, before, department_dict(dept))
    permissions.invalidate()
    return dept


def remove_department(dept: Department) -> None:
    """Delete ``dept`` when nothing is in it (409 naming what is), audited."""
    with database.atomic():
        before = department_dict(dept)
        delete_department(dept)
        record_change("delete", "departments", before["id"], before, None)
