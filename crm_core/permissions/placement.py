"""Where a written record may go: its owner and department, checked against the writer's scope.

Used by the write service, imports, assignment and plugins alike; closes mass assignment of
ownership (a writer never places a record outside the scope it holds).
"""

from __future__ import annotations

import peewee as pw

from ..auth.models import Department, User
from ..errors import APIError
from .grants import effective_scope
from .scopes import _in_area, _scope_condition

#: ``place``'s marker for "no department given": the record then goes to its owner's department.
OWNER_DEPARTMENT = object()


def _owner_department(actor, owner_id):
    """The department id of user ``owner_id`` (the actor's own without a query); 422 when no such
    active user exists."""
    if actor is not None and owner_id == actor.id:
        return actor.department_id
    row = User.select(User.department, User.is_active).where(User.id == owner_id).tuples().first()
    if row is None or not row[1]:
        raise APIError(422, "Invalid owner.", errors={"owner_id": [f"No active user {owner_id}."]})
    return row[0]


def place(actor, resource: str, action: str, owner_id, department_id=OWNER_DEPARTMENT) -> tuple:
    """Where a record written by ``actor`` goes: ``(owner_id, department_id)``, checked.

    The department defaults to the owner's (pass ``OWNER_DEPARTMENT``, the default); a department
    given with an owner must be the owner's (422 otherwise). ``actor``'s scope for
    ``resource:action`` must cover the department, the owner must be someone the actor may assign
    to (themselves, or a user of a department the scope covers), and the record must end up
    inside the scope (403 naming ``owner_id`` / ``department_id`` otherwise). Used by the write
    service, imports, assignment and plugins alike.
    """
    scope = effective_scope(actor, resource, action)
    if scope is None:
        raise APIError(403, f"Not allowed: {resource}:{action}.")
    mine = owner_id is not None and actor is not None and owner_id == actor.id
    if owner_id is not None and not mine and scope == "own":
        raise APIError(
            403,
            f"Not allowed to place this {resource} record outside your {scope} scope.",
            errors={"owner_id": [f"Outside your {scope} scope."]},
        )
    try:
        owners_department = _owner_department(actor, owner_id) if owner_id is not None else None
    except APIError:
        if scope == "all":
            raise
        # to a scoped writer, a user id that does not exist looks like one outside its scope
        raise APIError(
            403,
            f"Not allowed to place this {resource} record outside your {scope} scope.",
            errors={"owner_id": [f"Outside your {scope} scope."]},
        ) from None
    if department_id is OWNER_DEPARTMENT:
        department_id = owners_department
    elif owner_id is not None and owners_department is not None and department_id != owners_department:
        raise APIError(
            422,
            "The record's department must be its owner's.",
            errors={"department_id": [f"Must be the owner's department ({owners_department})."]},
        )
    elif department_id is not None and not Department.select().where(Department.id == department_id).exists():
        raise APIError(
            422, "Invalid department.", errors={"department_id": [f"No department {department_id}."]}
        )
    if scope == "all":
        return owner_id, department_id
    errors = {}
    if (
        owner_id is not None
        and not mine
        and (scope == "own" or not _in_area(actor, scope, owners_department))
    ):
        errors["owner_id"] = [f"Outside your {scope} scope."]
    if department_id is not None and not _in_area(actor, scope, department_id):
        errors["department_id"] = [f"Outside your {scope} scope."]
    if not errors and not mine and (scope == "own" or department_id is None):
        # nobody in the scope would own it or hold its department: the writer could not read it
        errors["owner_id" if scope == "own" else "department_id"] = [f"Outside your {scope} scope."]
    if errors:
        raise APIError(
            403, f"Not allowed to place this {resource} record outside your {scope} scope.", errors=errors
        )
    return owner_id, department_id


def check_assignment(actor, resource: str, action: str, owner_id, department_id) -> None:
    """Raise ``APIError`` 403/422 unless a record with ``owner_id``/``department_id`` may be placed
    by ``actor`` for ``resource:action`` (see :func:`place`; closes mass assignment of ownership)."""
    if resource == "users":
        # a user record has no owner: its department is where it is placed
        scope = effective_scope(actor, resource, action)
        if scope is None:
            raise APIError(403, f"Not allowed: {resource}:{action}.")
        if scope != "all" and not _in_area(actor, scope, department_id):
            raise APIError(
                403,
                f"Not allowed to place this {resource} record outside your {scope} scope.",
                errors={"department_id": [f"Outside your {scope} scope."]},
            )
        return
    place(actor, resource, action, owner_id, department_id)


def assignable_owners(actor, resource: str, action: str = "update"):
    """The WHERE expression on ``User`` of the users ``actor`` may make owner of ``resource``
    records for ``action`` (None: any user), as :func:`place` decides one by one: themselves, and
    for a wider scope the users of the departments it covers; no user without a grant. For
    pickers that offer only owners the write would accept."""
    scope = effective_scope(actor, resource, action)
    if scope is None or actor is None:
        return pw.SQL("1 = 0")
    return _scope_condition(User, actor, scope)
