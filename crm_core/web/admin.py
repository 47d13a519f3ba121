"""Administration: the home page linking to the administration pages a user may use, and the
permission check those pages share.

The pages live in ``admin_users`` (users), ``admin_roles`` (roles and the permission matrix),
``admin_departments`` (the department tree), ``admin_fields`` (custom fields and object types)
and ``admin_system`` (webhooks, scheduled jobs, plugins, the audit log).

Each page checks the same permission the matching API checks (``users:read``, ``roles:update``,
``fields:create``...; jobs and plugins are admin-only as in the API) and writes through the owning
module's functions, so the audit log and events see web changes exactly like API ones. The same
no-escalation rules apply (``crm_core.permissions.delegation``): a role matrix saves only grants
and field rules the editor covers, roles are assigned only by someone who holds all their grants,
and a user who holds more than the editor cannot be changed.
"""

from __future__ import annotations

from flask import g, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import permissions
from ..errors import APIError
from .blueprint import bp
from .nav import allowed
from .session import login_required

SECTIONS = [
    # (endpoint, permission "resource:action" or "admin", label)
    ("web.admin_users", "users:read", _l("Users")),
    ("web.admin_roles", "roles:read", _l("Roles and permissions")),
    ("web.admin_departments", "departments:read", _l("Departments")),
    ("web.admin_fields", "fields:create", _l("Custom fields")),
    ("web.admin_webhooks", "webhooks:read", _l("Webhooks")),
    ("web.admin_messaging", "messaging:read", _l("Messaging")),
    ("web.admin_oauth_apps", "oauth_clients:read", _l("Third-party apps")),
    ("web.record_list:automations", "automations:read", _l("Automation rules")),
    ("web.admin_jobs", "admin", _l("Scheduled jobs")),
    ("web.admin_plugins", "admin", _l("Plugins")),
    ("web.admin_audit", "audit:read", _l("Audit log")),
]

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
    "messaging:read",
    "automations:read",
    "audit:read",
]


def may(actor, permission: str) -> bool:
    """Whether ``actor`` may use a page guarded by ``permission`` (``resource:action``, or
    ``admin`` for administrators only)."""
    if permission == "admin":
        return bool(actor.is_admin)
    resource, action = permission.split(":")
    return permissions.can(actor, resource, action)


def need(permission: str) -> None:
    """403 unless the current user may use a page guarded by ``permission`` (see :func:`may`)."""
    if not may(g.actor, permission):
        raise APIError(403, _("You may not use this page."))


@bp.route("/admin/")
@login_required
def admin_home():
    """Links to the administration pages this user may use."""
    if not allowed(g.actor, ADMIN_PERMISSIONS):  # the same rule as the menu entry
        raise APIError(403, _("You may not use this page."))
    sections = []
    for endpoint, perm, label in SECTIONS:
        if may(g.actor, perm):
            endpoint, _sep, resource = endpoint.partition(":")
            args = {"resource": resource} if resource else {}
            sections.append((url_for(endpoint, **args), str(label)))
    if not sections:
        raise APIError(403, _("You may not use this page."))
    return render_template("crm/admin/index.html", sections=sections)
