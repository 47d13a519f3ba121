"""The collections an app serves: every resource mounted with ``register_crud``, by name.

A view class that serves a collection carries it as ``crm_collection`` (``register_crud`` sets
it), so walking the app's views finds core, plugin and third-party collections alike, and only
those of the plugins enabled in that app. The workbench builds its generic pages from them and
references resolve plugin collections (tiers, campaigns) through them.
"""

from __future__ import annotations

from typing import Any

from flask import current_app


def discover(app) -> dict[str, Any]:
    """The collections mounted on ``app`` by resource (each has ``resource``, ``model``...)."""
    found: dict[str, Any] = {}
    for view in app.view_functions.values():
        collection = getattr(getattr(view, "view_class", None), "crm_collection", None)
        if collection is not None:
            found.setdefault(collection.resource, collection)
    return found


def collections() -> dict[str, Any]:
    """The collections of the current app by resource (found once per app, then cached)."""
    crm = current_app.extensions["crm"]
    cached = getattr(crm, "_collections", None)
    if cached is None:
        cached = crm._collections = discover(current_app)
    return cached


def model_of(resource: str):
    """The model of the collection ``resource`` on the current app, or None."""
    collection = collections().get(resource)
    return collection.model if collection is not None else None
