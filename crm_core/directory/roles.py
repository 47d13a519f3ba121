"""A role's grants and field rules as people change them: the checks and the replacement that
the API (``/api/v1/roles``) and the workbench's role pages both use. No escalation
(``crm_core.permissions.delegation``): a role is saved only when the caller covers it."""

from __future__ import annotations

from ..auth.models import Role
from ..errors import APIError
from ..permissions import invalidate, require_covers, roles_problems, validate_grant
from ..permissions.models import FieldRule, Grant, role_dict
from ..permissions.validation import validate_field_rule


def check_contents(data: dict) -> None:
    """422 naming each grant that is not a known resource, action and scope, each field rule that
    is not a known rule (or masks the id), and each duplicate grant or field rule, in a role's new
    ``grants`` / ``field_rules``."""
    errors = {}
    seen = set()
    for i, grant in enumerate(data.get("grants") or []):
        problems = validate_grant(grant["resource"], grant["action"], grant["scope"])
        key = (grant["resource"], grant["action"])
        if key in seen:
            problems.append(f"Duplicate grant {grant['resource']}:{grant['action']}.")
        seen.add(key)
        if problems:
            errors[f"grants.{i}"] = problems
    seen = set()
    for i, rule in enumerate(data.get("field_rules") or []):
        problems = validate_field_rule(rule["resource"], rule["field"], rule["rule"])
        key = (rule["resource"], rule["field"])
        if key in seen:
            problems.append(f"Duplicate rule for {rule['resource']}.{rule['field']}.")
        seen.add(key)
        if problems:
            errors[f"field_rules.{i}"] = problems
    if errors:
        raise APIError(422, "Invalid role.", errors=errors)


def _contents(role: Role) -> tuple[list[dict], list[dict]]:
    data = role_dict(role)
    return data["grants"], data["field_rules"]


def check_delegation(actor, data: dict, role: Role | None = None) -> None:
    """403 unless ``actor`` covers the role's grants and field rules as ``data`` would leave
    them (``role``: the role being changed, which ``actor`` must cover as it is)."""
    if role is not None:
        problems = roles_problems(actor, [role.name])
        if problems:
            raise APIError(
                403,
                f"You cannot change role {role.name!r}: it grants more than you hold yourself.",
                errors={"grants": problems},
            )
        if "grants" not in data and "field_rules" not in data:
            return  # a label, a name or a deletion: nothing new to cover
    grants, rules = _contents(role) if role is not None else ([], [])
    require_covers(actor, data.get("grants", grants), data.get("field_rules", rules))


def replace_contents(role: Role, data: dict) -> None:
    """Replace the role's grants and field rules with those ``data`` gives (inside the caller's
    transaction), and drop the cached decisions that used the old ones."""
    if "grants" in data:
        Grant.delete().where(Grant.role == role).execute()
        for grant in data["grants"]:
            Grant.create(role=role, **grant)
    if "field_rules" in data:
        FieldRule.delete().where(FieldRule.role == role).execute()
        for rule in data["field_rules"]:
            FieldRule.create(role=role, **rule)
    invalidate()
