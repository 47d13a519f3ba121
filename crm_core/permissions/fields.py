"""Field rules: which fields are hidden or read-only for an actor, and masking by them.

A field is hidden only if every role granting anything on the resource hides it, read-only only
if none lets it be written (the union of what the actor's roles allow).
"""

from __future__ import annotations

from typing import Any

from ..auth.models import Role
from ..errors import APIError
from .grants import _cache, _matches, _roles_granting
from .models import FieldRule

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


def _mask_one(data: dict, hidden: frozenset[str] | set[str]) -> dict:
    # a new dict (and a new ``custom``) is enough: values are never changed, only left out, and a
    # deep copy per value costs more than the rest of the masking on a page of records
    out = {k: v for k, v in data.items() if k not in hidden} if hidden else dict(data)
    if isinstance(out.get("custom"), dict):
        out["custom"] = {k: v for k, v in out["custom"].items() if k not in hidden}
    return out
