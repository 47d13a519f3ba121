"""Role grants: which resources exist, and the widest row scope an actor's roles grant on one.

A role grants ``resource:action`` with a row scope (``SCOPES``, narrowest first); a user with
several roles gets the widest scope among them, and an OAuth2 client's ``actor.scopes`` cut that
down further and never widen it. The grants of a set of roles are read once per permission
revision per worker (:mod:`.revision`).
"""

from __future__ import annotations

import copy
import fnmatch

from flask import current_app, g, has_app_context, has_request_context

from .. import stamps
from ..auth.models import Role
from ..prepared import Prepared, slot
from .models import SCOPES, Grant
from .revision import STAMP, request_cache

_RANK = {scope: i for i, scope in enumerate(SCOPES)}


_WRITE_ACTIONS = ("create", "update", "delete")


CORE_RESOURCES = {
    "customers": ("read", "create", "update", "delete", "export"),
    "companies": ("read", "create", "update", "delete", "export"),
    "contacts": ("read", "create", "update", "delete", "export"),
    "deals": ("read", "create", "update", "delete", "export"),
    "activities": ("read", "create", "update", "delete", "export"),
    "tickets": ("read", "create", "update", "delete", "export"),
    "tags": ("read", "create", "update", "delete"),
    "segments": ("read", "create", "update", "delete", "export"),
    "users": ("read", "create", "update", "delete"),
    "roles": ("read", "create", "update", "delete"),
    "departments": ("read", "create", "update", "delete"),
    "webhooks": ("read", "create", "update", "delete"),
    "automations": ("read", "create", "update", "delete"),
    "audit": ("read", "export"),
    "oauth_clients": ("read", "create", "delete"),
    "objects.*": ("read", "create", "update", "delete", "export"),
}


def resources() -> dict[str, dict]:
    """Every known resource: ``{name: {"actions": [...], "label": str, "sensitive"?: True}}`` from
    the core and the plugins' ``crm_permissions`` hook (collected once per app)."""
    if has_app_context() and "crm_permission_resources" in current_app.extensions:
        return copy.deepcopy(current_app.extensions["crm_permission_resources"])
    found = {name: {"actions": list(actions), "label": name} for name, actions in CORE_RESOURCES.items()}
    if has_app_context():
        for items in _hook().crm_permissions():
            for item in items or []:
                entry = found.setdefault(item["resource"], {"actions": [], "label": item["resource"]})
                entry["label"] = item.get("label") or entry["label"]
                if item.get("sensitive"):
                    entry["sensitive"] = True
                for action in item.get("actions", ()):
                    if action not in entry["actions"]:
                        entry["actions"].append(action)
        # plugins are fixed for the life of an app: collect once
        current_app.extensions["crm_permission_resources"] = copy.deepcopy(found)
    return found


def invalidate() -> None:
    """Forget the grants cached for this request (after editing roles, grants or field rules):
    the next question reads the permission revision again (:mod:`.revision`)."""
    if has_request_context():
        g.pop("_crm_perm_cache", None)
        stamps.forget(STAMP)


def _cache() -> dict:
    """The request's permission cache, backed by the worker's cache of the permission revision."""
    return request_cache()


def _hook():
    return current_app.extensions["crm"].plugins.hook


def _grants_of(count: int) -> Prepared:
    """The grants query for ``count`` role names (slots ``r0``...), compiled once per count."""
    if count not in _GRANTS_BY_ROLE_COUNT:
        _GRANTS_BY_ROLE_COUNT[count] = Prepared(
            lambda: (
                Grant.select(Role.name, Grant.resource, Grant.action, Grant.scope)
                .join(Role)
                .where(Role.name.in_([slot(f"r{i}") for i in range(count)]))
                .tuples()
            )
        )
    return _GRANTS_BY_ROLE_COUNT[count]


_GRANTS_BY_ROLE_COUNT: dict[int, Prepared] = {}


def _grants(roles: frozenset[str]) -> list[tuple[str, str, str, str]]:
    """(role, resource, action, scope) of the given role names, cached per request."""
    cache = _cache()
    key = ("grants", roles)
    if key not in cache:
        names = {f"r{i}": name for i, name in enumerate(sorted(roles))}
        cache[key] = _grants_of(len(names)).rows(**names) if roles else []
    return cache[key]


def _matches(pattern: str, value: str) -> bool:
    if pattern == value or pattern == "*":
        return True
    return pattern.endswith(".*") and fnmatch.fnmatchcase(value, pattern)


def _client_allows(actor, resource: str, action: str) -> bool:
    """An OAuth2 client's scopes: ``resource:action``, ``resource:write`` (create/update/delete,
    and read, which every change needs), ``resource:*`` and ``*``."""
    scopes = getattr(actor, "scopes", None)
    if scopes is None:
        return True
    if "*" in scopes or f"{resource}:{action}" in scopes or f"{resource}:*" in scopes:
        return True
    if f"{resource}:write" in scopes and action in (*_WRITE_ACTIONS, "read"):
        return True
    # a client scoped to objects.* covers every custom object type
    return any(
        s.endswith(".*:" + action) and _matches(s.rsplit(":", 1)[0], resource) for s in scopes if ":" in s
    )


def effective_scope(actor, resource: str, action: str = "read") -> str | None:
    """The widest row scope any of ``actor``'s roles grants for ``resource:action`` (None: not
    granted), cut down by an OAuth2 client's scopes."""
    if actor is None or not _client_allows(actor, resource, action):
        return None
    best = None
    for _role, res, act, scope in _grants(actor.roles):
        matching = _matches(res, resource) and act in ("*", action) and scope in _RANK
        if matching and (best is None or _RANK[scope] > _RANK[best]):
            best = scope
    return best


def _roles_granting(actor, resource: str) -> set[str]:
    return {role for role, res, _a, _s in _grants(actor.roles) if _matches(res, resource)}
