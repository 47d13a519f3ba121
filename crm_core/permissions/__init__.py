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
    "View",
    "view",
    "event_data",
    "closed",
    "SCOPES",
    "FIELD_RULES",
    "scoped",
    "get_record",
    "readable_reference",
    "require",
    "can",
    "field_rules",
    "mask",
    "check_writable",
    "check_assignment",
    "place",
    "OWNER_DEPARTMENT",
    "effective_scope",
    "resources",
    "invalidate",
    "validate_grant",
    "validate_scope_strings",
    "is_sensitive",
    "covers",
    "require_covers",
    "grant_problems",
    "field_rule_problems",
    "roles_problems",
    "require_covers_roles",
    "user_problems",
    "covers_user",
    "require_covers_user",
    "scope_problems",
    "require_covers_scopes",
]

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


def _filters(model, actor, action, resource=None):
    return [
        expr
        for expr in _hook().crm_permission_filter(actor=actor, action=action, model=model, resource=resource)
        if expr is not None
    ]


def view(actor, resource: str, action: str = "read") -> View:
    """The one read decision: a :class:`~crm_core.permissions.decision.View` of ``resource`` for
    ``actor`` doing ``action`` (row scope as SQL, hidden and read-only fields, masked dumps,
    in-scope tests). Cached per request. Every read path uses it."""
    cache = _cache()
    scopes = getattr(actor, "scopes", None)
    key = (
        "view",
        getattr(actor, "id", None),
        getattr(actor, "roles", None),
        None if scopes is None else frozenset(scopes),
        resource,
        action,
    )
    if key not in cache:
        cache[key] = View(actor, resource, action)
    return cache[key]


def scoped(query, actor, resource: str, action: str = "read", model=None):
    """``query`` AND-ed with ``actor``'s row scope for ``resource:action`` (and for read, which
    every action needs) and every plugin's ``crm_permission_filter``. Raises ``APIError(403)`` if
    no role grants it. Shorthand for ``view(actor, resource, action).apply(query, model)``."""
    return view(actor, resource, action).apply(query, model)


def get_record(model, record_id, actor, resource: str, action: str = "read", lock: bool = False):
    """The record ``record_id`` of ``model``: 404 when it is outside ``actor``'s *read* scope (its
    existence is not revealed), 403 when readable but ``action`` is not allowed on it.

    ``lock``: read it with its row lock (``SELECT ... FOR UPDATE OF`` its own table only, on
    PostgreSQL), held until the transaction ends; call inside ``db.write_transaction()``, which
    on SQLite already holds the database's write lock."""
    pk = model._meta.primary_key
    try:
        value = pk.db_value(record_id)
        if isinstance(pk, pw.AutoField | pw.IntegerField | pw.BigAutoField | pw.BigIntegerField):
            value = int(record_id)
            if not -(2**63) <= value < 2**63:  # no 64-bit id can match (and SQLite cannot bind it)
                raise ValueError(record_id)
    except (TypeError, ValueError):
        raise APIError(404, f"No {resource} record {record_id}.") from None
    query = model.select().where(pk == value)
    if lock and is_postgres():
        query = query.for_update(of=model)
    record = scoped(query, actor, resource, "read", model=model).first()
    if record is None:
        raise APIError(404, f"No {resource} record {record_id}.")
    if action != "read":
        require(actor, resource, action, record)
    elif is_sensitive(resource):
        from ..audit import record_read

        record_read(actor, resource, record.get_id(), record)
    return record


def readable_reference(model, record_id, actor, resource: str, field: str):
    """The record ``record_id`` of ``model`` that a record being written refers to (a member's
    customer, a conversion's customer...), when ``actor`` may read it; else ``APIError(422)`` naming
    ``field``, in the same words whether the record lies outside the actor's scope or does not
    exist (no id is revealed). 403 when the actor may not read ``resource`` at all."""
    try:
        return get_record(model, record_id, actor, resource)
    except APIError as exc:
        if exc.code != 404:
            raise
    raise APIError(
        422, f"Invalid {field}.", errors={field: [f"No {resource} record {record_id} that you can read."]}
    )


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
    seen = view(actor, resource, action)
    if not seen.allowed:
        return False
    saved = record is not None and isinstance(record, pw.Model) and record._pk is not None
    if saved and not seen.contains(record):
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


def mask(actor, resource: str, data: Any):
    """A copy of ``data`` (a dumped dict or a list of them) without the fields hidden from
    ``actor``, including keys inside ``custom``. Unlike ``view(...).dump`` it keeps everything
    else even when the actor has no read grant (callers that already checked the grant)."""
    hidden = frozenset(f for f, rule in field_rules(actor, resource).items() if rule == "hidden")
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


def _in_area(actor, scope: str, department_id) -> bool:
    """True when ``department_id`` is a department ``scope`` lets ``actor`` place records in."""
    if scope == "all":
        return True
    if department_id is None or scope == "own" or scope == "department":
        return department_id is not None and department_id == actor.department_id
    return _department_in_tree(department_id, actor.department_id)


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


from .decision import View, _mask_one, closed, event_data  # noqa: E402  (View uses the functions above)
from .delegation import (  # noqa: E402  (uses effective_scope and field_rules above)
    covers,
    covers_user,
    field_rule_problems,
    grant_problems,
    require_covers,
    require_covers_roles,
    require_covers_scopes,
    require_covers_user,
    roles_problems,
    scope_problems,
    user_problems,
)
