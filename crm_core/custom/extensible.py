"""Which entities can carry custom fields, and the model behind each.

An entity is the API collection (and permission resource) name of a record model:

- core records (any ``RecordModel`` a ``core.*`` capability returns from ``crm_models``) are
  entities automatically, named by their table in the plural (``customer`` -> ``customers``,
  ``company`` -> ``companies``) unless the model sets ``crm_entity``;
- plugin models opt in by setting a class attribute ``crm_entity = "loyalty.members"`` (and
  inheriting ``RecordModel``, which carries the ``custom`` column);
- custom object types are ``objects.<type>``.
"""

from __future__ import annotations

from flask import current_app, has_app_context

from ..db import RecordModel
from ..errors import APIError
from .object_types import object_model, type_exists, type_names

OBJECTS_PREFIX = "objects."


def plural(table_name: str) -> str:
    """English plural of a table name, as the API names collections."""
    if table_name.endswith("y") and table_name[-2:-1] not in "aeiou":
        return table_name[:-1] + "ies"
    if table_name.endswith(("s", "x", "ch", "sh")):
        return table_name + "es"
    return table_name + "s"


def _static_entities() -> dict[str, type]:
    if not has_app_context():
        return {}
    crm = current_app.extensions.get("crm")
    if crm is None:
        return {}
    cached = getattr(crm, "_metadata_entities", None)
    if cached is not None:
        return cached
    found: dict[str, type] = {}
    for plugin_name, models in crm.plugins.calls("crm_models"):
        for model in models:
            if not (isinstance(model, type) and issubclass(model, RecordModel)):
                continue
            if "custom" not in model._meta.fields:
                continue
            explicit = model.__dict__.get("crm_entity")
            if explicit:
                found[explicit] = model
            elif plugin_name.startswith("core.") and plugin_name != "core.custom":
                found[plural(model._meta.table_name)] = model
    crm._metadata_entities = found
    return found


def entity_model(entity: str):
    """The model of ``entity``, or None when no such entity exists."""
    if entity.startswith(OBJECTS_PREFIX):
        type_name = entity[len(OBJECTS_PREFIX) :]
        return object_model(type_name) if type_exists(type_name) else None
    return _static_entities().get(entity)


def require_entity(entity: str):
    """The model of ``entity``; 404 naming it when there is none."""
    model = entity_model(entity)
    if model is None:
        raise APIError(404, f"Unknown entity {entity!r}: custom fields can be defined on {known_entities()}.")
    return model


def known_entities() -> list[str]:
    """Names of the entities that can carry custom fields (core, plugins, custom object types)."""
    return sorted(_static_entities()) + [OBJECTS_PREFIX + t for t in type_names()]


def entity_of_model(model) -> str:
    """The entity name of ``model`` (the inverse of :func:`entity_model`)."""
    explicit = getattr(model, "crm_entity", None)
    if explicit:
        return explicit
    for name, candidate in _static_entities().items():
        if candidate is model:
            return name
    for name, candidate in _static_entities().items():
        if issubclass(model, candidate) or issubclass(candidate, model):
            return name
    return plural(model._meta.table_name)


def core_field_names(model) -> set[str]:
    """Names a custom field may not take on ``model``: its columns and their ``_id`` forms."""
    names = set(model._meta.fields)
    for f in model._meta.fields.values():
        names.add(f.column_name)
    return names
