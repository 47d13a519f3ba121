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

from werkzeug.datastructures import MultiDict

from ..errors import APIError
from ..records.tabular import file_of


def _args(ctx) -> MultiDict:
    return MultiDict([tuple(pair) for pair in ctx.params.get("args") or []])


def import_task(ctx) -> dict:
    """The import report (the API's shape: ``imported``, ``failed``, ``errors`` by row...)."""
    via = ctx.params.get("via")
    if via == "api":
        from ..metadata import transfer
        from ..metadata.api import _create_schema, _crud

        crud = _crud(ctx.params["type"])
        return transfer.import_records(
            crud.resource,
            crud.model,
            _create_schema,
            ctx.input_data,
            ctx.input_name or "upload.csv",
            ctx.params.get("mode", "all_or_nothing"),
            ctx.actor,
            ctx.progress,
            ctx.params.get("encoding") or None,
        )
    if via == "web":
        from flask_babel import force_locale

        from ..web.transfer import import_task_report

        with force_locale(ctx.params.get("locale") or "en"):
            return import_task_report(
                ctx.params["resource"], ctx.actor, ctx.input_data, ctx.input_name, ctx.progress
            )
    raise APIError(500, f"Unknown import path {via!r}.")


def export_task(ctx) -> dict:
    """The export file, attached to the task; the result counts its rows."""
    via, fmt = ctx.params.get("via"), ctx.params.get("format", "csv")
    if via == "api":
        from ..metadata import objects, transfer
        from ..metadata.api import _crud

        type_name = ctx.params["type"]
        crud = _crud(type_name)
        response = transfer.export_records(
            crud.resource,
            crud.model,
            _args(ctx),
            ctx.actor,
            fmt,
            search_fields=objects.search_fields(type_name),
            progress=ctx.progress,
        )
    elif via == "web":
        from ..web.transfer import export_response

        response = export_response(ctx.params["resource"], ctx.actor, _args(ctx), fmt, ctx.progress)
    else:
        raise APIError(500, f"Unknown export path {via!r}.")
    name, media_type, data = file_of(response)
    ctx.attach(name, media_type, data)
    return {"rows": response.crm_rows, "format": fmt, "file": name}
