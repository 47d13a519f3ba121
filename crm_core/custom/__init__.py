"""The metadata engine: custom fields on any entity, custom object types, industry templates.

Public functions (docs/internals.md; other capabilities call only these):

- ``custom_fields(entity) -> list[FieldDef]``: the live definitions of an entity (cached per
  database and definitions version, rebuilt when any definition changes).
- ``validate_custom(entity, values, partial=False, record_id=None) -> dict``: cleaned values, or
  ``APIError(422)`` with per-field messages (``custom.<name>``; unknown keys named), or
  ``APIError(409)`` when a unique custom field's value is taken.
- ``custom_expression(model, name)``: a typed peewee expression over ``custom`` for WHERE and
  ORDER BY on SQLite (``json_extract``) and PostgreSQL (``jsonb``); comparisons coerce their
  right-hand side (query-string text) to the field's type.

Entities are API collection names: ``customers``, ``companies``, ``deals``... (core record models
automatically), ``objects.<type>`` (custom object types) and plugin models that set
``crm_entity = "<resource>"``.
"""

from __future__ import annotations

from .expressions import custom_expression
from .extensible import entity_model, entity_of_model, known_entities
from .fielddefs import FIELD_TYPES, FieldDef, custom_fields, get_field
from .validation import validate_custom

__all__ = [
    "FIELD_TYPES",
    "FieldDef",
    "custom_expression",
    "custom_fields",
    "entity_model",
    "entity_of_model",
    "get_field",
    "known_entities",
    "validate_custom",
]
