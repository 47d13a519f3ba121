"""Record access: scoped queries, single records, and the ``can`` / ``require`` action checks.

Every one goes through the read decision (:func:`crm_core.permissions.decision.view`); plugins
veto single actions through ``crm_permission_check`` but never widen. Single-record reads of
sensitive resources are audited here (``crm_core.audit.record_read``).
"""

from __future__ import annotations

import peewee as pw
from flask import current_app, has_app_context

from ..audit import record_read
from ..db import is_postgres
from ..errors import APIError
from ..prepared import Prepared, slot
from .decision import view
from .grants import _hook, _matches, resources


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
    conditions = view(actor, resource, "read").conditions(model)
    lock = lock and is_postgres()
    if conditions:
        query = model.select().where(pk == value, *conditions)
        record = (query.for_update(of=model) if lock else query).first()
    else:  # every row is in scope: the statement is the same on every call
        found = _by_id(model, lock).rows(id=value)
        record = found[0] if found else None
    if record is None:
        raise APIError(404, f"No {resource} record {record_id}.")
    if action != "read":
        require(actor, resource, action, record)
    elif is_sensitive(resource):
        record_read(actor, resource, record.get_id(), record)
    return record


#: (model, lock) -> its single-row read by id, for readers whose scope bounds no row
_BY_ID: dict[tuple, Prepared] = {}


def _by_id(model, lock: bool) -> Prepared:
    key = (model, lock)
    prepared = _BY_ID.get(key)
    if prepared is None:
        if len(_BY_ID) > 500:  # custom objects' models are rebuilt when their definitions change
            _BY_ID.clear()

        def build():
            query = model.select().where(model._meta.primary_key == slot("id")).limit(1)
            return query.for_update(of=model) if lock else query

        prepared = _BY_ID[key] = Prepared(build)
    return prepared


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
    # settings and plugins are fixed for the life of an app: decided once per resource (asking
    # ``resources()`` copies every plugin's labels, a fifth of a detail request's time)
    known = current_app.extensions.setdefault("crm_sensitive_resources", {})
    setting = current_app.config.get("AUDIT_SENSITIVE_RESOURCES", "")
    key = (setting, resource)
    if key not in known:
        configured = {r.strip() for r in setting.split(",") if r.strip()}
        known[key] = any(_matches(pattern, resource) for pattern in configured) or bool(
            resources().get(resource, {}).get("sensitive")
        )
    return known[key]


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
