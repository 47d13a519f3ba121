"""References between records: which columns point at another record, and what may be pointed at.

A column is a reference when it is a peewee ``ForeignKeyField`` or follows the naming convention
of the core (``owner_id`` and ``assignee_id`` name a user, ``customer_id`` a customer...; plugins
that keep plain integer columns rather than foreign keys, like ``loyalty.members.customer_id``,
get the same treatment). A model may declare more with a class attribute
``crm_references = {"column": "resource"}``.

A *target* is what a reference points at, named by its permission resource (``customers``,
``users``, ``departments``) or ``pipelines`` / ``stages``, which are configuration: whoever may read
deals may read them. :func:`readable` is the query of the targets an actor may read, through
``crm_core.permissions`` only; the write service (:func:`check`), the workbench's pickers and the
names shown in lists all use it, so none of them can reach a record outside the actor's scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee as pw
from flask import has_app_context

from .. import permissions
from ..auth.models import Department, User
from ..custom.extensible import entity_model, entity_of_model
from ..db import RecordModel
from ..errors import APIError
from .collections import collections, model_of

#: Columns that name a record of another collection by convention.
CONVENTIONS = {
    "owner_id": "users",
    "assignee_id": "users",
    "department_id": "departments",
    "customer_id": "customers",
    "company_id": "companies",
    "pipeline_id": "pipelines",
    "stage_id": "stages",
}

#: Targets that are configuration rather than scoped records: readable by whoever reads these.
CONFIGURATION = {"pipelines": ("pipelines", "deals"), "stages": ("pipelines", "deals")}

#: Placed by ``permissions.place`` (existence, scope, the owner's department) on every write.
PLACED = frozenset({"owner_id", "department_id"})


@dataclass(frozen=True)
class Reference:
    """One reference column: its API name (``customer_id``), the target resource and model."""

    field: str
    target: str
    model: type


#: Configuration a record may point at besides collections: target -> model. The core's users
#: and departments are here from the start; ``register_target`` adds more (pipelines, stages).
_TARGETS: dict[str, type] = {}


def register_target(target: str, model: type) -> None:
    """Let columns point at records of ``model`` under the name ``target`` (``pipelines``), for
    models that are configuration rather than a collection of their own."""
    _TARGETS[target] = model


def _core_models() -> dict[str, type]:
    return {"users": User, "departments": Department, **_TARGETS}


def target_model(target: str):
    """The model behind the target resource ``target`` (None when unknown)."""
    core = _core_models()
    if target in core:
        return core[target]
    model = entity_model(target)
    if model is not None:
        return model
    if has_app_context():
        # plugin collections that are not custom-field entities (tiers, campaigns)
        return model_of(target)
    return None


def target_of_model(model) -> str | None:
    """The target resource of ``model`` (the inverse of :func:`target_model`)."""
    for name, candidate in _core_models().items():
        if candidate is model:
            return name
    if issubclass(model, RecordModel) and "custom" in model._meta.fields:
        return entity_of_model(model)
    if has_app_context():
        for resource, collection in collections().items():
            if collection.model is model:
                return resource
    return None


def references_of(model, resource: str | None = None) -> dict[str, Reference]:
    """The reference columns of ``model`` (the collection ``resource``) by API name."""
    out: dict[str, Reference] = {}
    declared = dict(getattr(model, "crm_references", None) or {})
    for name, field in model._meta.fields.items():
        api_name = field.column_name if isinstance(field, pw.ForeignKeyField) else name
        if api_name in declared:
            continue
        if isinstance(field, pw.ForeignKeyField):
            rel = field.rel_model
            target = resource if rel is model and resource else target_of_model(rel)
            if target is not None:
                out[api_name] = Reference(api_name, target, rel)
        elif api_name in CONVENTIONS and isinstance(field, pw.IntegerField):
            target = CONVENTIONS[api_name]
            found = target_model(target)
            if found is not None:
                out[api_name] = Reference(api_name, target, found)
    for api_name, target in declared.items():
        found = target_model(target)
        if found is not None:
            out[api_name] = Reference(api_name, target, found)
    return out


def can_read(actor, target: str) -> bool:
    """True when ``actor`` may read records of ``target`` at all."""
    if target in CONFIGURATION:
        return any(permissions.can(actor, r, "read") for r in CONFIGURATION[target])
    return permissions.can(actor, target, "read")


def readable(actor, target: str, model=None, query=None):
    """``query`` (default: every row of the target's model) bounded to what ``actor`` may read of
    ``target``; 403 when it may read none. Configuration targets have no row scope."""
    model = model or target_model(target)
    query = model.select() if query is None else query
    if target in CONFIGURATION:
        if not can_read(actor, target):
            raise APIError(403, f"Not allowed: {target}:read.")
        return query
    return permissions.scoped(query, actor, target, "read", model=model)


def visible(actor, target: str, name: str) -> bool:
    """True when the column ``name`` of ``target`` may be shown to ``actor``."""
    if target in CONFIGURATION:
        return can_read(actor, target)
    return permissions.view(actor, target).visible(name)


def check(resource: str, model, data: dict, actor, record=None) -> None:
    """Refuse (422, one message per field) references in ``data`` to records that do not exist or
    that ``actor`` may not read, in the same words either way (no id is revealed). On update
    (``record`` given) only values that change are checked. Without an actor (jobs, the command
    line) only existence is checked. ``owner_id`` / ``department_id`` are left to
    ``permissions.place``."""
    errors: dict[str, list[str]] = {}
    for name, ref in references_of(model, resource).items():
        if name in PLACED or name not in data:
            continue
        value = data[name]
        if isinstance(value, pw.Model):
            value = value.get_id()
        if value is None or (record is not None and value == record.__data__.get(_field_name(model, name))):
            continue
        pk = ref.model._meta.primary_key
        try:
            query = ref.model.select(pk).where(pk == value)
            if actor is not None:
                query = readable(actor, ref.target, ref.model, query)
            found = query.exists()
        except APIError:
            found = False
        except (TypeError, ValueError, OverflowError, pw.DataError):
            found = False  # not an id any row could have
        if not found:
            errors.setdefault(name, []).append(f"No record {value} that you can read.")
    if errors:
        names = ", ".join(sorted(errors))
        raise APIError(422, f"Invalid reference: {names}.", errors=errors)


def _field_name(model, api_name: str) -> str:
    """The model field behind the API name ``api_name`` (a foreign key's ``customer_id`` is
    stored under ``customer``)."""
    fields = model._meta.fields
    if api_name in fields:
        return api_name
    for name, field in fields.items():
        if field.column_name == api_name:
            return name
    return api_name
