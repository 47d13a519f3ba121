"""Row scopes as SQL: the WHERE clause of ``own`` | ``department`` | ``department_tree`` | ``all``.

Scopes nest (own ⊂ department ⊂ department_tree ⊂ all: the owner of a record always sees it).
They become WHERE clauses on the caller's peewee query, never a Python filter after the fetch;
a department tree is one indexed prefix query on ``department.path``.
"""

from __future__ import annotations

import peewee as pw

from ..auth.models import Department, User
from ..db import is_postgres
from .grants import _cache


def _field(model, *names):
    fields = model._meta.fields
    for name in names:
        if name in fields:
            return fields[name]
    for f in fields.values():
        if f.column_name in names:
            return f
    return None


def _department_path(department_id) -> str | None:
    cache = _cache()
    key = ("path", department_id)
    if key not in cache:
        cache[key] = (
            Department.select(Department.path).where(Department.id == department_id).scalar()
            if department_id is not None
            else None
        )
    return cache[key]


def subtree_ids(path: str):
    """A subquery of the ids of the department at ``path`` and every department below it: one
    indexed prefix query on ``department.path`` (GLOB on SQLite, LIKE with text_pattern_ops on
    PostgreSQL; paths hold only digits and slashes, so neither needs escaping)."""
    if is_postgres():
        cond = pw.Expression(Department.path, "LIKE", path + "%")
    else:
        cond = pw.Expression(Department.path, "GLOB", path + "*")
    return Department.select(Department.id).where(cond)


def _in_subtree(column, path: str):
    """``column`` is one of the departments at or below ``path``.

    On PostgreSQL this is ``column = ANY(ARRAY(subquery))``: the subquery runs once (an InitPlan)
    and the condition stays indexable, so the planner can use the record's department index
    (and OR it with the owner index) instead of filtering every row against a hashed subplan.
    """
    if is_postgres():
        return pw.Expression(column, "=", pw.fn.ANY(pw.fn.ARRAY(subtree_ids(path))))
    return column.in_(subtree_ids(path))


def _scope_condition(model, actor, scope: str):
    """The WHERE expression of ``scope`` on ``model`` for ``actor`` (None: every row)."""
    if scope == "all":
        return None
    if model is Department:
        owner, dept = None, model.id
    elif model is User:
        owner, dept = model.id, model.department
    else:
        custom = getattr(model, "permission_fields", None) or {}
        owner = getattr(model, custom["owner"]) if "owner" in custom else _field(model, "owner_id", "owner")
        dept = (
            getattr(model, custom["department"])
            if "department" in custom
            else _field(model, "department_id", "department")
        )
    own = owner == actor.id if owner is not None else None
    if scope == "own":
        return own if own is not None else pw.SQL("1 = 0")
    if dept is None or actor.department_id is None:
        in_dept = None
    elif scope == "department":
        in_dept = dept == actor.department_id
    else:  # department_tree
        path = _department_path(actor.department_id)
        in_dept = _in_subtree(dept, path) if path else dept == actor.department_id
    parts = [c for c in (in_dept, own) if c is not None]
    if not parts:
        return pw.SQL("1 = 0")
    return parts[0] if len(parts) == 1 else (parts[0] | parts[1])


def _in_area(actor, scope: str, department_id) -> bool:
    """True when ``department_id`` is a department ``scope`` lets ``actor`` place records in."""
    if scope == "all":
        return True
    if department_id is None or scope == "own" or scope == "department":
        return department_id is not None and department_id == actor.department_id
    return _department_in_tree(department_id, actor.department_id)


def _department_in_tree(department_id, root_id) -> bool:
    if department_id is None or root_id is None:
        return False
    if department_id == root_id:
        return True
    path = _department_path(root_id)
    if not path:
        return False
    return subtree_ids(path).where(Department.id == department_id).exists()


def department_subtree(department_id: int):
    """A subquery of the ids of department ``department_id`` and every department below it
    (None when there is no such department), for a rule that reaches down the tree."""
    path = _department_path(department_id)
    return subtree_ids(path) if path else None
