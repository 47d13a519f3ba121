"""Checks on references between objects: the target must exist and be readable by the writer."""

from __future__ import annotations

from .. import permissions
from ..auth import current_actor
from ..errors import APIError


def writer():
    """The actor of the current request, or None (CLI, jobs)."""
    try:
        return current_actor(required=False)
    except RuntimeError:  # outside a request
        return None


def require_ref(model, resource: str, record_id, field: str):
    """The ``model`` row ``record_id`` when the current actor may read it, else 422 on ``field``.

    Without an actor (CLI, demo data) only existence is checked. A reference the writer cannot
    read answers as absent, so ids outside their scope reveal nothing.
    """
    if record_id is None:
        return None
    query = model.select().where(model._meta.primary_key == record_id)
    actor = writer()
    if actor is not None:
        try:
            query = permissions.scoped(query, actor, resource, "read", model=model)
        except APIError:
            query = None
    row = query.first() if query is not None else None
    if row is None:
        raise APIError(422, f"Invalid {field}.", errors={field: [f"No {resource} record {record_id}."]})
    return row
