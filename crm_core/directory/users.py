"""Creating and changing a user: :func:`add_user` and :func:`update_user`, which the API
(``POST /api/v1/users``, ``PATCH /api/v1/users/<id>``) and the workbench's user pages both call,
so both follow the same rules with the same messages.

No escalation (``crm_core.permissions.delegation``): changing a user needs ``users:update`` on
them and every grant they hold (:func:`check_manages`); handing out roles needs ``roles:update``
and every grant of each role, the admin role only by an administrator (:func:`check_roles`).
Nobody removes their own admin role or deactivates themselves. A department must exist and be
one the editor may place users in. Deactivation and a new password revoke the user's tokens;
every change is audited as a ``users`` update.
"""

from __future__ import annotations

from flask_babel import gettext as _

from .. import permissions
from ..auth import ADMIN_ROLE, create_user, record_change, revoke_user_tokens, set_password, user_dict
from ..auth.models import Department, Role, User, UserRole
from ..db import database, utcnow
from ..errors import APIError

#: The keys :func:`update_user` accepts; columns of ``user`` besides roles and the password.
COLUMNS = ("name", "email", "is_active", "language")


def check_roles(actor, names) -> None:
    """Changing roles needs ``roles:update`` and every grant of each role assigned; only an admin
    hands out ``admin`` (no escalation). Unknown role names: 422."""
    permissions.require(actor, "roles", "update")
    if ADMIN_ROLE in names and not actor.is_admin:
        raise APIError(
            403, _("Only an administrator can grant the admin role."), errors={"roles": [ADMIN_ROLE]}
        )
    known = {r.name for r in Role.select().where(Role.name.in_(list(names)))} if names else set()
    missing = sorted(set(names) - known)
    if missing:
        raise APIError(
            422,
            _("Invalid user."),
            errors={"roles": [_("Unknown role(s): %(value)s.", value=", ".join(missing))]},
        )
    permissions.require_covers_roles(actor, names)


def check_manages(actor, user) -> None:
    """403 unless ``actor`` may change ``user`` at all: it covers every grant of ``user``."""
    permissions.require_covers_user(actor, user)


def role_names(user) -> list[str]:
    """The names of ``user``'s roles, sorted."""
    return sorted(r.name for r in Role.select(Role.name).join(UserRole).where(UserRole.user == user))


def _check_department(actor, department_id) -> None:
    """The department must be one ``actor`` may place users in (403/422) and exist (422)."""
    permissions.check_assignment(actor, "users", "update", None, department_id)
    if department_id is not None and not Department.select().where(Department.id == department_id).exists():
        raise APIError(
            422, _("Invalid user."), errors={"department_id": [_("No department %(id)s.", id=department_id)]}
        )


def add_user(actor, data: dict) -> User:
    """Create a user as ``actor`` and return it: ``users:create``, only fields ``actor`` may
    write, a department ``actor`` may place users in, roles handed out under
    :func:`check_roles`. ``data``: ``username``, ``password`` and any of ``name``, ``email``,
    ``department_id``, ``roles``; the rest of the checks (and the audit record) are
    ``crm_core.auth.create_user``'s."""
    permissions.require(actor, "users", "create")
    permissions.check_writable(actor, "users", data)
    roles = list(data.get("roles") or [])
    with database.atomic():
        permissions.check_assignment(actor, "users", "create", None, data.get("department_id"))
        if roles:
            check_roles(actor, roles)
        return create_user(
            data["username"],
            data["password"],
            roles=roles,
            department_id=data.get("department_id"),
            name=data.get("name", ""),
            email=data.get("email"),
        )


def check_change(actor, user, changes: dict) -> None:
    """Raise ``APIError`` (403/409/422) unless ``actor`` may apply ``changes`` to ``user``; the
    checks :func:`update_user` makes before writing, in the order the API always made them."""
    permissions.require(actor, "users", "update", user)
    permissions.check_writable(actor, "users", changes)
    check_manages(actor, user)
    if "department_id" in changes:
        _check_department(actor, changes["department_id"])
    if "roles" in changes:
        check_roles(actor, changes["roles"])
        if user.id == actor.id and ADMIN_ROLE in role_names(user) and ADMIN_ROLE not in changes["roles"]:
            raise APIError(409, _("You cannot remove your own admin role."), errors={"roles": [ADMIN_ROLE]})
    if changes.get("is_active") is False and user.id == actor.id:
        raise APIError(409, _("You cannot deactivate yourself."), errors={"is_active": [_("Yourself.")]})


def update_user(actor, user: User, changes: dict) -> User:
    """Apply ``changes`` to ``user`` as ``actor`` and return the user as stored.

    ``changes`` holds any of ``name``, ``email``, ``is_active``, ``language``,
    ``department_id`` (None: no department), ``roles`` (the complete list of role names) and
    ``password`` (policy-checked); a key that is absent is left as it is. Every rule of
    :func:`check_change` applies (``APIError`` 403/409/422, nothing written). Any change sets
    ``updated_at``; deactivation and a new password revoke the user's tokens; the change is
    audited once, a new password as ``password_changed_at`` (never the password itself). No
    changes: nothing is written.
    """
    check_change(actor, user, changes)
    if not changes:  # a form saved as it was: nothing to write or audit
        return user
    before = user_dict(user)
    with database.atomic():
        columns = {k: changes[k] for k in COLUMNS if k in changes}
        if "department_id" in changes:
            columns["department"] = changes["department_id"]
        if columns or "roles" in changes:
            User.update(**columns, updated_at=utcnow()).where(User.id == user.id).execute()
        if "roles" in changes:
            UserRole.delete().where(UserRole.user == user).execute()
            for role in Role.select().where(Role.name.in_(list(changes["roles"]))):
                UserRole.create(user=user, role=role)
        if "password" in changes:
            set_password(user, changes["password"])  # revokes the user's tokens, sets updated_at
        if changes.get("is_active") is False:
            revoke_user_tokens(user)
        user = User.get_by_id(user.id)
        after = user_dict(user)
        if "password" in changes:
            after["password_changed_at"] = utcnow().isoformat()
        record_change("update", "users", user.id, before, after)
    return user


def users_with_role(role: str, department_id: int | None = None) -> list[int]:
    """The ids of the active users holding the role named ``role`` (in ``department_id`` when
    given), in id order: whom to notify (a department's heads), for plugins too."""
    query = (
        User.select(User.id)
        .join(UserRole, on=(UserRole.user == User.id))
        .join(Role, on=(Role.id == UserRole.role))
        .where(Role.name == role, User.is_active == True)  # noqa: E712  (peewee's SQL equality)
        .order_by(User.id)
    )
    if department_id is not None:
        query = query.where(User.department == department_id)
    return [row[0] for row in query.tuples()]


def user_names(ids) -> dict[int, str]:
    """``{user id: display name}`` of the given users (their name, else their username), for
    showing a teacher or an owner by name; ids of no user are left out."""
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    rows = User.select(User.id, User.name, User.username).where(User.id.in_(wanted)).tuples()
    return {uid: (name or username) for uid, name, username in rows}
