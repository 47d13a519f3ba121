"""The department tree: creating and moving departments keeps every materialized path right.

``Department.path`` is ``/<root id>/.../<own id>/``, so "a department and everything below" is a
prefix query (``crm_core.permissions.subtree_ids``). Moving a department rewrites the paths of its
whole subtree in one UPDATE; moving it below itself is refused. A department is deleted only
when nothing is in it: no sub-departments, no users and no business records (any table whose
model is a ``RecordModel``, core or plugin).
"""

from __future__ import annotations

import peewee as pw
from flask import current_app, has_app_context
from flask_babel import gettext as _

from ..auth.models import Department, User
from ..db import RecordModel, database, utcnow
from ..errors import APIError
from ..records.collections import collections
from ..records.labels import RESOURCE_LABELS


def _parent(parent_id) -> Department | None:
    if parent_id is None:
        return None
    parent = Department.get_or_none(Department.id == parent_id)
    if parent is None:
        raise APIError(
            422,
            _("Invalid department."),
            errors={"parent_id": [_("No department %(id)s.", id=parent_id)]},
        )
    return parent


def create_department(name: str, parent_id: int | None = None) -> Department:
    """Create a department under ``parent_id`` (None: a root) with its path set."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise APIError(422, _("Invalid department."), errors={"name": [_("Must be 1 to 200 characters.")]})
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
                _("A department cannot move below itself or one of its sub-departments."),
                errors={"parent_id": [_("Would create a cycle in the department tree.")]},
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


def record_models() -> list[type[RecordModel]]:
    """Every business-record model of the app (core and plugins): they carry ``department_id``."""
    if not has_app_context():
        return []
    return [m for m in current_app.extensions["crm"].models if issubclass(m, RecordModel)]


def records_in(dept: Department) -> dict[type, int]:
    """How many records of each business model sit in ``dept`` (models holding none left out)."""
    counts = {}
    for model in record_models():
        count = model.select().where(model.department_id == dept.id).count()
        if count:
            counts[model] = count
    return counts


def _model_label(model) -> str:
    """The collection label of ``model`` for messages (its table name when no page shows it)."""
    try:
        for resource, collection in collections().items():
            if collection.model is model:
                return str(RESOURCE_LABELS.get(resource, resource))
    except Exception:  # no web layer (CLI, API-only plugin set): the table name is still clear
        pass
    if model._meta.table_name == "object_record":  # every custom object type shares this table
        return _("Custom object records")
    return model._meta.table_name


def delete_department(dept: Department) -> None:
    """Delete an empty department: 409 while it has sub-departments, users or records, with a
    message that says what is still in it."""
    if Department.select().where(Department.parent == dept).exists():
        raise APIError(409, _("The department has sub-departments; move or delete them first."))
    members = User.select().where(User.department == dept).count()
    if members:
        raise APIError(
            409,
            _(
                "The department still has %(count)s user(s); move them to another department first.",
                count=members,
            ),
            users=members,
        )
    held = records_in(dept)
    if held:
        kinds = ", ".join(f"{_model_label(m)}: {n}" for m, n in held.items())
        raise APIError(
            409,
            _(
                "The department still holds records (%(kinds)s); move them to another department first.",
                kinds=kinds,
            ),
            records={m._meta.table_name: n for m, n in held.items()},
        )
    dept.delete_instance()


def department_dict(d: Department) -> dict:
    """JSON view of a department."""
    return {
        "id": d.id,
        "name": d.name,
        "parent_id": d.parent_id,
        "path": d.path,
        "depth": d.path.strip("/").count("/") if d.path else 0,
    }


def department_names(ids) -> dict[int, str]:
    """``{department id: name}`` of the given departments (campuses, branches) for showing them by
    name; ids of no department are left out."""
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    return dict(Department.select(Department.id, Department.name).where(Department.id.in_(wanted)).tuples())
