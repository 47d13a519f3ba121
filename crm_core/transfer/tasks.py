"""The ``records.import`` and ``records.export`` tasks: imports and large exports of every
collection other than customers (which have ``customers.import``/``customers.export``), by the
path they were asked through, so a task does exactly what that request did:

- ``via: "api"``: ``/api/v1/objects/<type>/import`` and ``/export`` (``metadata.transfer``),
  params ``type`` (the custom object type), ``mode`` and ``encoding``, or ``args``/``format``;
- ``via: "web"``: the workbench's ``/records/<resource>/import`` and ``/export.<fmt>``
  (``web.transfer``), params ``resource``, ``locale`` (the page's language, for row messages),
  ``args``/``format``.

Both run as the task's creator (``ctx.actor``): row scopes, placement, field rules and audit
apply as they did inside the request.
"""

from __future__ import annotations

import importlib

from ..errors import APIError
from .tabular import file_of

#: The path a request came by -> "module:function" doing that path's import (``ctx`` -> report)
#: and export (``ctx`` -> file response). Names, resolved when a task runs: the API and the
#: workbench sit above the jobs layer, which must not import them.
IMPORTS = {"api": "crm_core.api.metadata:import_task", "web": "crm_core.web.transfer:import_task"}
EXPORTS = {"api": "crm_core.api.metadata:export_task", "web": "crm_core.web.transfer:export_task"}


def _resolve(paths: dict, via) -> object:
    if via not in paths:
        raise APIError(500, f"Unknown transfer path {via!r}.")
    module, _, name = paths[via].partition(":")
    return getattr(importlib.import_module(module), name)


def import_task(ctx) -> dict:
    """The import report (the API's shape: ``imported``, ``failed``, ``errors`` by row...)."""
    return _resolve(IMPORTS, ctx.params.get("via"))(ctx)


def export_task(ctx) -> dict:
    """The export file, attached to the task; the result counts its rows."""
    fmt = ctx.params.get("format", "csv")
    response = _resolve(EXPORTS, ctx.params.get("via"))(ctx)
    name, media_type, data = file_of(response)
    ctx.attach(name, media_type, data)
    return {"rows": response.crm_rows, "format": fmt, "file": name}
