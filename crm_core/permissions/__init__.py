"""The one permission module every view and plugin uses: role grants, row scopes, field rules.

A role grants ``resource:action`` with a row scope ``own`` | ``department`` | ``department_tree`` |
``all``. Scopes nest (own ⊂ department ⊂ department_tree ⊂ all: the owner of a record always
sees it), so a user with several roles simply gets the widest scope among them. An OAuth2
client's ``actor.scopes`` (``customers:read``, ``customers:write``...) cut that down further and
never widen it. Scopes become SQL WHERE clauses on the caller's peewee query (never a Python filter
after the fetch); plugins can AND in their own restrictions (``crm_permission_filter``) and veto
single actions (``crm_permission_check``), but never widen.

Public functions (see docs/internals.md): ``scoped``, ``get_record``, ``require``, ``can``,
``field_rules``, ``mask``, ``check_writable``, ``check_assignment``; plus ``effective_scope``,
``resources`` and ``is_sensitive`` for tooling. ``get_record`` also audits single-record reads of
sensitive resources (``crm_core.audit.record_read``).
"""

from __future__ import annotations

import copy
import fnmatch
from typing import Any

import peewee as pw
from flask import current_app, g, has_app_context, has_request_context

from ..auth.models import Department, Role, User
from ..db import Prepared, is_postgres, slot
from ..errors import APIError
from .models import FIELD_RULES, SCOPES, FieldRule, Grant

__all__ = [
    "SCOPES",
    "FIELD_RULES",
    "scoped",
    "get_record",
    "require",
    "can",
    "field_rules",
    "mask",
    "check_writable",
    "check_assignment",
    "effective_scope",
    "resources",
    "invalidate",
    "validate_grant",
    "validate_scope_strings",
    "is_sensitive",
]

_RANK = {scope: i for i, scope in enumerate(SCOPES)}
_WRITE_ACTIONS = ("create", "update", "delete")

CORE_RESOURCES = {
    "customers": ("read", "create", "update", "delete", "export"),
    "companies": ("read", "create", "update", "delete", "export"),
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


# --- grants ------------------------------------------------------------------------------------


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
    """Forget the grants cached for this request (after editing roles, grants or field rules)."""
    if has_request_context():
        g.pop("_crm_perm_cache", None)


def _cache() -> dict:
    if has_request_context():
        if "_crm_perm_cache" not in g:
            g._crm_perm_cache = {}
        return g._crm_perm_cache
    return {}


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


# --- row scopes as SQL -------------------------------------------------------------------------


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


def _hook():
    return current_app.extensions["crm"].plugins.hook


def _filters(model, actor, action):
    return [
        expr
        for expr in _hook().crm_permission_filter(actor=actor, action=action, model=model)
        if expr is not None
    ]


def _row_conditions(model, actor, resource: str, action: str) -> list:
    """The WHERE expressions that bound ``actor``'s rows of ``model`` for ``resource:action``
    (empty: every row); ``APIError(403)`` if no role grants it."""
    scope = effective_scope(actor, resource, action)
    if scope is None:
        raise APIError(403, f"Not allowed: {resource}:{action}.")
    conds = [_scope_condition(model, actor, scope), *_filters(model, actor, action)]
    return [c for c in conds if c is not None]


def scoped(query, actor, resource: str, action: str = "read", model=None):
    """``query`` AND-ed with ``actor``'s row scope for ``resource:action`` and every plugin's
    ``crm_permission_filter``. Raises ``APIError(403)`` if no role grants ``resource:action``."""
    for cond in _row_conditions(model or query.model, actor, resource, action):
        query = query.where(cond)
    return query


def _in_scope(actor, resource: str, action: str, record) -> bool:
    """True when ``record`` (a saved peewee row) lies inside ``actor``'s scope for ``action``."""
    model = type(record)
    try:
        conds = _row_conditions(model, actor, resource, action)
    except APIError:
        return False
    if not conds:
        return True  # nothing bounds the scope: no need to ask the database about this row
    pk = model._meta.primary_key
    return model.select(pk).where(pk == record._pk, *conds).exists()


def get_record(model, record_id, actor, resource: str, action: str = "read"):
    """The record ``record_id`` of ``model``: 404 when it is outside ``actor``'s *read* scope (its
    existence is not revealed), 403 when readable but ``action`` is not allowed on it."""
    pk = model._meta.primary_key
    try:
        value = pk.db_value(record_id)
        if isinstance(pk, pw.AutoField | pw.IntegerField | pw.BigAutoField | pw.BigIntegerField):
            value = int(record_id)
    except (TypeError, ValueError):
        raise APIError(404, f"No {resource} record {record_id}.") from None
    record = scoped(model.select().where(pk == value), actor, resource, "read", model=model).first()
    if record is None:
        raise APIError(404, f"No {resource} record {record_id}.")
    if action != "read":
        require(actor, resource, action, record)
    elif is_sensitive(resource):
        from ..audit import record_read

        record_read(actor, resource, record.get_id(), record)
    return record


def is_sensitive(resource: str) -> bool:
    """True when single-record reads of ``resource`` are audited: listed in
    ``AUDIT_SENSITIVE_RESOURCES`` or marked ``"sensitive": True`` by its ``crm_permissions`` item."""
    if not has_app_context():
        return False
    configured = {
        r.strip() for r in current_app.config.get("AUDIT_SENSITIVE_RESOURCES", "").split(",") if r.strip()
    }
    if any(_matches(pattern, resource) for pattern in configured):
        return True
    return bool(resources().get(resource, {}).get("sensitive"))


def can(actor, resource: str, action: str, record=None) -> bool:
    """True when ``actor`` may do ``resource:action`` (on ``record``, if given): a role grants it,
    the record lies inside the granted scope, and no plugin's ``crm_permission_check`` vetoes."""
    if effective_scope(actor, resource, action) is None:
        return False
    saved = record is not None and isinstance(record, pw.Model) and record._pk is not None
    if saved and not _in_scope(actor, resource, action, record):
        return False
    votes = _hook().crm_permission_check(actor=actor, action=action, resource=resource, record=record)
    return not any(v is False for v in votes)


def require(actor, resource: str, action: str, record=None) -> None:
    """Raise ``APIError(403)`` unless ``can(actor, resource, action, record)``."""
    if not can(actor, resource, action, record):
        raise APIError(
            403, f"Not allowed: {resource}:{action}" + (" on this record." if record is not None else ".")
        )


# --- field rules -------------------------------------------------------------------------------

_STRICTNESS = {"hidden": 2, "read-only": 1, None: 0}


def field_rules(actor, resource: str) -> dict[str, str]:
    """``{field: "hidden" | "read-only"}`` for ``actor`` on ``resource`` (absent: read-write).

    Rules combine as a union of what the actor's roles allow: a field is hidden only if every
    role granting anything on the resource hides it, read-only only if none lets it be written.
    """
    if actor is None:
        return {}
    cache = _cache()
    key = ("fields", actor.roles, resource)
    if key in cache:
        return dict(cache[key])
    relevant = _roles_granting(actor, resource)
    rules: dict[str, str] = {}
    if relevant:
        rows = (
            FieldRule.select(Role.name, FieldRule.resource, FieldRule.field, FieldRule.rule)
            .join(Role)
            .where(Role.name.in_(sorted(relevant)))
            .tuples()
        )
        per_role: dict[str, dict[str, str]] = {}
        for role, res, field, rule in rows:
            if _matches(res, resource):
                current = per_role.setdefault(role, {}).get(field)
                if _STRICTNESS.get(rule, 0) > _STRICTNESS.get(current, 0):
                    per_role[role][field] = rule
        fields = set().union(*per_role.values()) if per_role else set()
        for field in fields:
            strictness = min(_STRICTNESS[per_role.get(role, {}).get(field)] for role in relevant)
            if strictness:
                rules[field] = "hidden" if strictness == 2 else "read-only"
    cache[key] = rules
    return dict(rules)


def _hidden(actor, resource) -> set[str]:
    return {f for f, rule in field_rules(actor, resource).items() if rule == "hidden"}


def _mask_one(data: dict, hidden: set[str]) -> dict:
    # a new dict (and a new ``custom``) is enough: values are never changed, only left out, and a
    # deep copy per value costs more than the rest of the masking on a page of records
    if not hidden:
        out = dict(data)
        if isinstance(out.get("custom"), dict):
            out["custom"] = dict(out["custom"])
        return out
    out = {k: v for k, v in data.items() if k not in hidden}
    if isinstance(out.get("custom"), dict):
        out["custom"] = {k: v for k, v in out["custom"].items() if k not in hidden}
    return out


def mask(actor, resource: str, data: Any):
    """A copy of ``data`` (a dumped dict or a list of them) without the fields hidden from
    ``actor``, including keys inside ``custom``."""
    hidden = _hidden(actor, resource)
    if isinstance(data, list):
        return [_mask_one(item, hidden) if isinstance(item, dict) else item for item in data]
    if isinstance(data, dict):
        return _mask_one(data, hidden)
    return data


def check_writable(actor, resource: str, data: dict) -> None:
    """Raise ``APIError(403)`` naming each hidden or read-only field present in ``data``
    (including keys inside ``custom``)."""
    rules = field_rules(actor, resource)
    if not rules or not isinstance(data, dict):
        return
    errors = {}
    keys = [k for k in data if k != "custom"]
    if isinstance(data.get("custom"), dict):
        keys += list(data["custom"])
    for key in keys:
        rule = rules.get(key)
        if rule:
            errors[key] = [f"This field is {rule} for you."]
    if errors:
        raise APIError(403, "Not allowed to write: " + ", ".join(sorted(errors)) + ".", errors=errors)


def check_assignment(actor, resource: str, action: str, owner_id, department_id) -> None:
    """Raise ``APIError(403)`` if a record with ``owner_id``/``department_id`` would lie outside
    ``actor``'s scope for ``resource:action`` (closes mass assignment of ownership)."""
    scope = effective_scope(actor, resource, action)
    if scope is None:
        raise APIError(403, f"Not allowed: {resource}:{action}.")
    if scope == "all":
        return
    own = owner_id is not None and owner_id == actor.id
    if scope == "own":
        inside = own
    elif scope == "department":
        inside = own or (department_id is not None and department_id == actor.department_id)
    else:
        inside = own or _department_in_tree(department_id, actor.department_id)
    if not inside:
        errors = {}
        if owner_id is not None and not own:
            errors["owner_id"] = [f"Outside your {scope} scope."]
        if scope != "own" or department_id is not None:
            errors["department_id"] = [f"Outside your {scope} scope."]
        if not errors:
            errors["owner_id"] = [f"Outside your {scope} scope."]
        raise APIError(
            403, f"Not allowed to place this {resource} record outside your {scope} scope.", errors=errors
        )


def _department_in_tree(department_id, root_id) -> bool:
    if department_id is None or root_id is None:
        return False
    if department_id == root_id:
        return True
    path = _department_path(root_id)
    if not path:
        return False
    return subtree_ids(path).where(Department.id == department_id).exists()


# --- validation of grants, field rules and client scopes (roles API, OAuth clients) ------------


def _known(resource: str, known: dict) -> bool:
    if resource == "*" or resource in known:
        return True
    if resource.endswith(".*"):
        return any(name.startswith(resource[:-1]) or name == resource for name in known)
    return any(name.endswith(".*") and _matches(name, resource) for name in known)


def _actions_of(resource: str, known: dict) -> set[str]:
    actions = set()
    for name, entry in known.items():
        if name == resource or _matches(name, resource) or _matches(resource, name):
            actions.update(entry["actions"])
    return actions


def validate_grant(resource: str, action: str, scope: str) -> list[str]:
    """What is wrong with a grant (empty when valid): unknown resource, action or scope."""
    known = resources()
    problems = []
    if not _known(resource, known):
        problems.append(f"Unknown resource {resource!r}.")
    elif action != "*" and action not in _actions_of(resource, known):
        problems.append(f"Unknown action {action!r} for {resource!r}.")
    if scope not in SCOPES:
        problems.append(f"Scope must be one of {', '.join(SCOPES)}.")
    return problems


def validate_scope_strings(scopes) -> list[str]:
    """What is wrong with OAuth2 client scopes (``resource:action``, ``resource:write``,
    ``resource:*``); empty when valid."""
    if not isinstance(scopes, list | tuple | set | frozenset) or not scopes:
        return ["Give at least one scope, e.g. 'customers:read'."]
    known = resources()
    problems = []
    for item in scopes:
        if not isinstance(item, str) or ":" not in item:
            problems.append(f"{item!r} is not 'resource:action'.")
            continue
        resource, action = item.rsplit(":", 1)
        if not _known(resource, known):
            problems.append(f"Unknown resource {resource!r}.")
        elif action not in ("*", "write") and action not in _actions_of(resource, known):
            problems.append(f"Unknown action {action!r} for {resource!r}.")
    return problems
