"""The department tree: creating and moving departments keeps every materialized path right.

``Department.path`` is ``/<root id>/.../<own id>/``, so "a department and everything below" is a
prefix query (``crm_core.permissions.subtree_ids``). Moving a department rewrites the paths of its
whole subtree in one UPDATE; moving it below itself is refused.
"""

from __future__ import annotations

import peewee as pw

from ..db import database, utcnow
from ..errors import APIError
from .models import Department, User


def _parent(parent_id) -> Department | None:
    if parent_id is None:
        return None
    parent = Department.get_or_none(Department.id == parent_id)
    if parent is None:
        raise APIError(422, "Invalid department.", errors={"parent_id": [f"No department {parent_id}."]})
    return parent


def create_department(name: str, parent_id: int | None = None) -> Department:
    """Create a department under ``parent_id`` (None: a root) with its path set."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise APIError(422, "Invalid department.", errors={"name": ["Must be 1 to 200 characters."]})
    with database.atomic():
        parent = _parent(parent_id)
        dept = Department.create(name=name, parent=parent, path="")
        dept.path = f"{parent.path if parent else '/'}{dept.id}/"
        dept.save(only=[Department.path, Department.updated_at])
    return dept


def move_department(dept: Department, parent_id: int | None) -> Department:
    """Move ``dept`` (and its subtree) below ``parent_id``; 422 when that would make a cycle."""
    with database.atomic():
        parent = _parent(parent_id)
        if parent is not None and parent.path.startswith(dept.path):
            raise APIError(
                422,
                "A department cannot move below itself.",
                errors={"parent_id": ["Would create a cycle in the department tree."]},
            )
        old = dept.path
        new = f"{parent.path if parent else '/'}{dept.id}/"
        if new != old:
            # rewrite the prefix of every path in the subtree (the department itself included)
            suffix = pw.fn.SUBSTR(Department.path, len(old) + 1)
            (
                Department.update(path=pw.Value(new).concat(suffix), updated_at=utcnow())
                .where(Department.path.startswith(old) & (pw.fn.SUBSTR(Department.path, 1, len(old)) == old))
                .execute()
            )
        Department.update(parent=parent, updated_at=utcnow()).where(Department.id == dept.id).execute()
    return Department.get_by_id(dept.id)


def delete_department(dept: Department) -> None:
    """Delete an empty department: 409 while it has sub-departments or members."""
    if Department.select().where(Department.parent == dept).exists():
        raise APIError(409, "The department has sub-departments; move or delete them first.")
    if User.select().where(User.department == dept).exists():
        raise APIError(409, "The department still has members; move them first.")
    dept.delete_instance()
