"""Validation of grants, field rules and OAuth2 client scopes (the roles API, OAuth clients):
unknown resources, actions, scopes and rules, in readable words."""

from __future__ import annotations

from .grants import _matches, resources
from .models import FIELD_RULES, SCOPES


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


def validate_field_rule(resource: str, field: str, rule: str) -> list[str]:
    """What is wrong with a field rule (empty when valid): an unknown rule, or a ``masked`` rule
    on the record's ``id`` (rows are addressed by it: masking it would break every link)."""
    problems = []
    if rule not in FIELD_RULES:
        problems.append(f"Rule must be one of {', '.join(FIELD_RULES)}.")
    elif rule in ("masked", "masked-writable") and field == "id":
        problems.append("The id cannot be masked (hide it instead).")
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
