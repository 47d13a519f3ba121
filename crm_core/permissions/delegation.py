"""Delegation: nobody hands out, or reaches, more than they hold themselves.

The one place that answers "does actor A cover these grants / this role / this user?". The roles
API and the role matrix page ask it before saving a role's grants and field rules, the users API
and the user pages before assigning roles or touching a user, the OAuth client API before
creating a client that acts for a user.

An actor *covers*:

- a grant ``resource:action:scope`` when ``effective_scope(actor, resource, action)`` is at least
  ``scope`` in the order of ``SCOPES`` (own < department < department_tree < all). A wildcard
  (``*`` as resource or action, ``objects.*``) is matched literally, so only someone who holds
  that wildcard grants it: ``*:*:all`` only an administrator;
- a set of field rules (given with the grants of one role) when, on every resource the grants
  reach, each field that is hidden or read-only *for the actor* is at least as strict in the
  rules: whoever holds the role sees and changes no field the actor may not;
- a role when it covers the role's grants and field rules; the built-in admin role
  (``auth.ADMIN_ROLE``) only an administrator covers (``Actor.is_admin``);
- a user when it covers every role of the user (nobody covers an administrator but an
  administrator); every actor covers itself, unless an OAuth2 client's scopes cut it down.

The ``*_problems`` functions return readable problems (empty: covered); the ``require_*``
functions raise ``APIError(403)`` with the problems as per-field ``errors`` (``grants``,
``field_rules``, ``roles``, ``scopes``, or the field the caller names for a user).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..auth import ADMIN_ROLE
from ..auth.models import Role, UserRole
from ..errors import APIError
from .fields import at_least_as_strict, field_rules, strictest
from .grants import _RANK, _matches, effective_scope, resources
from .models import SCOPES, FieldRule, Grant

__all__ = [
    "grant_problems",
    "field_rule_problems",
    "covers",
    "require_covers",
    "roles_problems",
    "require_covers_roles",
    "user_problems",
    "covers_user",
    "require_covers_user",
    "scope_problems",
    "require_covers_scopes",
]


def _triples(items, keys) -> list[tuple[str, str, str]]:
    out = []
    for item in items or ():
        if isinstance(item, dict):
            out.append(tuple(str(item[k]) for k in keys))
        else:
            out.append(tuple(str(v) for v in item))
    return out


def _is_admin(actor) -> bool:
    return bool(getattr(actor, "is_admin", False))


# --- grants and field rules --------------------------------------------------------------------


def grant_problems(actor, grants: Iterable) -> list[str]:
    """What ``actor`` would hand out beyond its own grants, one message per grant (empty:
    covered). ``grants`` are dicts ``{"resource", "action", "scope"}`` or such triples."""
    problems = []
    for resource, action, scope in _triples(grants, ("resource", "action", "scope")):
        name = f"{resource}:{action}:{scope}"
        held = effective_scope(actor, resource, action)
        wildcard = resource == "*" or action == "*" or resource.endswith(".*")
        if held is not None and _RANK.get(held, -1) >= _RANK.get(scope, len(SCOPES)):
            continue
        if held is None and wildcard:
            problems.append(
                f"{name}: only someone who holds {resource}:{action} (the wildcard) can grant it."
            )
        elif held is None:
            problems.append(f"{name}: you do not hold {resource}:{action} yourself.")
        else:
            problems.append(f"{name}: you hold {resource}:{action} only with scope {held!r}.")
    return problems


def _actor_rule_resources(actor) -> set[str]:
    """The resources any of ``actor``'s roles has field rules for."""
    if not getattr(actor, "roles", None):
        return set()
    query = (
        FieldRule.select(FieldRule.resource)
        .join(Role)
        .where(Role.name.in_(sorted(actor.roles)))
        .distinct()
        .tuples()
    )
    return {resource for (resource,) in query}


def field_rule_problems(actor, grants: Iterable, rules: Iterable) -> list[str]:
    """What ``rules`` (the field rules of the role that carries ``grants``) would let the role's
    holders see or change that is hidden or read-only for ``actor`` (empty: covered)."""
    grants = _triples(grants, ("resource", "action", "scope"))
    rules = _triples(rules, ("resource", "field", "rule"))
    patterns = {resource for resource, _a, _s in grants}
    if not patterns:
        return []
    # every concrete resource the grants reach on which the actor may be restricted
    concrete = set(patterns) | {
        r for r in _actor_rule_resources(actor) if any(_matches(p, r) for p in patterns)
    }
    problems = []
    for resource in sorted(concrete):
        for field, mine in sorted(field_rules(actor, resource).items()):
            given = strictest(rule for res, f, rule in rules if f == field and _matches(res, resource))
            if not at_least_as_strict(given, mine):
                problems.append(
                    f"{resource}.{field}: it is {mine} for you, so it must stay {mine} in this role."
                )
    return problems


def covers(actor, grants: Iterable, rules: Iterable | None = None) -> list[str]:
    """Everything ``actor`` does not cover of ``grants`` (and of the field rules ``rules`` that
    go with them, when given): a list of messages, empty when ``actor`` covers them all."""
    problems = grant_problems(actor, grants)
    if rules is not None:
        problems += field_rule_problems(actor, grants, rules)
    return problems


def require_covers(
    actor, grants: Iterable, rules: Iterable | None = None, message: str | None = None
) -> None:
    """Raise ``APIError(403)`` unless ``actor`` covers ``grants`` (and ``rules``); ``errors``
    holds ``{"grants": [...], "field_rules": [...]}``, naming each offending grant or field."""
    errors = {}
    problems = grant_problems(actor, grants)
    if problems:
        errors["grants"] = problems
    if rules is not None:
        problems = field_rule_problems(actor, grants, rules)
        if problems:
            errors["field_rules"] = problems
    if errors:
        raise APIError(
            403, message or "You cannot grant permissions you do not hold yourself.", errors=errors
        )


# --- roles -------------------------------------------------------------------------------------


def _role_contents(names) -> dict[str, tuple[list, list]]:
    """``{role name: (grants, field rules)}`` of the roles called ``names`` that exist."""
    names = sorted(set(names))
    out: dict[str, tuple[list, list]] = {}
    if not names:
        return out
    for (name,) in Role.select(Role.name).where(Role.name.in_(names)).tuples():
        out[name] = ([], [])
    parts = (
        (0, Grant, (Grant.resource, Grant.action, Grant.scope)),
        (1, FieldRule, (FieldRule.resource, FieldRule.field, FieldRule.rule)),
    )
    for index, model, columns in parts:
        for name, *triple in (
            model.select(Role.name, *columns).join(Role).where(Role.name.in_(names)).tuples()
        ):
            out[name][index].append(tuple(triple))
    return out


def _role_problems(actor, name: str, grants, rules) -> list[str]:
    if name == ADMIN_ROLE and not _is_admin(actor):
        return [f"Role {name!r}: only an administrator can hand out or touch the admin role."]
    return [f"Role {name!r}: {p}" for p in covers(actor, grants, rules)]


def roles_problems(actor, names: Iterable[str]) -> list[str]:
    """What ``actor`` does not cover of the roles called ``names`` (unknown names are left to
    the caller's validation)."""
    problems = []
    for name, (grants, rules) in sorted(_role_contents(names).items()):
        problems += _role_problems(actor, name, grants, rules)
    return problems


def require_covers_roles(actor, names: Iterable[str], field: str = "roles") -> None:
    """Raise ``APIError(403)`` (``errors[field]``) unless ``actor`` covers every role in
    ``names``: assigning a role needs every one of its grants (the admin role: an administrator)."""
    problems = roles_problems(actor, names)
    if problems:
        raise APIError(
            403, "You cannot assign a role that grants more than you hold yourself.", errors={field: problems}
        )


# --- users -------------------------------------------------------------------------------------


def _role_names_of(user) -> list[str]:
    return [name for (name,) in Role.select(Role.name).join(UserRole).where(UserRole.user == user).tuples()]


def user_problems(actor, user) -> list[str]:
    """Why ``user`` is more privileged than ``actor`` (empty: ``actor`` covers every role of
    ``user``, so it may manage them). Only an administrator covers an administrator."""
    problems = roles_problems(actor, _role_names_of(user))
    if problems:
        return [f"User {user.username!r} holds permissions you do not:", *problems]
    return []


def covers_user(actor, user) -> bool:
    """True when ``actor`` covers every grant of ``user`` (see ``user_problems``)."""
    return not user_problems(actor, user)


def require_covers_user(actor, user, field: str = "user", message: str | None = None) -> None:
    """Raise ``APIError(403)`` (``errors[field]``) unless ``actor`` covers ``user``: nobody
    edits, resets the password of, deactivates, deletes or acts as a more privileged user."""
    problems = user_problems(actor, user)
    if problems:
        raise APIError(
            403,
            message or f"You cannot manage user {user.username!r}: they hold permissions you do not.",
            errors={field: problems},
        )


# --- OAuth2 client scopes ----------------------------------------------------------------------


def _scope_actions(resource: str, action: str) -> list[str]:
    if action != "write":
        return [action]
    known = set()
    for name, entry in resources().items():
        if _matches(name, resource) or _matches(resource, name):
            known.update(entry["actions"])
    wanted = ("read", "create", "update", "delete")
    return [a for a in wanted if a in known] or list(wanted)


def scope_problems(actor, scopes: Iterable[str]) -> list[str]:
    """The OAuth2 client scopes (``resource:action``, ``resource:write``, ``resource:*``, ``*``)
    that allow something ``actor`` may not do itself (empty: covered). Wildcards need the
    wildcard grant, as for roles."""
    problems = []
    for item in scopes or ():
        if not isinstance(item, str):
            continue
        resource, action = ("*", "*") if item == "*" else item.rsplit(":", 1) if ":" in item else (item, "")
        missing = [a for a in _scope_actions(resource, action) if effective_scope(actor, resource, a) is None]
        if missing:
            problems.append(
                f"{item}: you do not hold {', '.join(f'{resource}:{a}' for a in missing)} yourself."
            )
    return problems


def require_covers_scopes(actor, scopes: Iterable[str], field: str = "scopes") -> None:
    """Raise ``APIError(403)`` (``errors[field]``) unless ``actor`` may do everything
    ``scopes`` allow."""
    problems = scope_problems(actor, scopes)
    if problems:
        raise APIError(
            403, "You cannot give a client scopes you do not hold yourself.", errors={field: problems}
        )
