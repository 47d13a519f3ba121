"""The one permission module every view and plugin uses: role grants, row scopes, field rules.

A role grants ``resource:action`` with a row scope ``own`` | ``department`` | ``department_tree`` |
``all``. Scopes nest (own ⊂ department ⊂ department_tree ⊂ all: the owner of a record always
sees it), so a user with several roles simply gets the widest scope among them. An OAuth2
client's ``actor.scopes`` (``customers:read``, ``customers:write``...) cut that down further and
never widen it. Scopes become SQL WHERE clauses on the caller's peewee query (never a Python filter
after the fetch); plugins can AND in their own restrictions (``crm_permission_filter``) and veto
single actions (``crm_permission_check``), but never widen.

Public functions (see docs/internals.md): ``scoped``, ``get_record``, ``require``, ``can``,
``field_rules``, ``mask``, ``check_writable``, ``without_masked_echoes``, ``check_assignment``, ``assignable_owners``;
plus ``effective_scope``, ``resources`` and ``is_sensitive`` for tooling. ``get_record`` also audits single-record reads of
sensitive resources (``crm_core.audit.record_read``).

The bodies live in modules named for what they hold, each decided only here: ``grants`` (which
roles grant what, ``effective_scope``), ``scopes`` (row scopes as SQL), ``fields`` (field rules
and masking), ``decision`` (``View``, the one read decision), ``access`` (``scoped``,
``get_record``, ``can``, ``require``), ``placement`` (where a written record may go),
``validation`` (grants and client scopes) and ``delegation`` (nobody hands out more than they
hold).
"""

from __future__ import annotations

from .access import can, get_record, is_sensitive, readable_reference, require, scoped
from .decision import View, closed, event_data, view
from .delegation import (
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
from .fields import check_writable, field_rules, mask, without_masked_echoes
from .grants import CORE_RESOURCES, effective_scope, invalidate, resources
from .models import FIELD_RULES, SCOPES
from .placement import OWNER_DEPARTMENT, assignable_owners, check_assignment, place
from .scopes import subtree_ids
from .validation import validate_grant, validate_scope_strings

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
    "without_masked_echoes",
    "check_assignment",
    "assignable_owners",
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
    "subtree_ids",
    "CORE_RESOURCES",
]
