"""``/customers/import`` and ``/customers/export``: the customer importer and exporter
(:mod:`crm_core.transfer.customers`) as endpoints, queued as tasks when large."""

from __future__ import annotations

import json

from flask import Response, request
from flask.views import MethodView

from .. import permissions
from ..auth import current_actor
from ..jobs import tasks
from ..transfer.customers import export_or_task, import_customers
from ..transfer.tabular import (
    IMPORT_REQUEST_BODY,
    SYNC_PARAMETER,
    check_mode,
    import_encoding,
    import_upload,
    small_upload,
    wants_sync,
)
from . import customers
from .tasks import TaskSchema, accepted

blp = customers.blp  # the routes sit with the other /customers ones


@blp.route("/customers/import")
class CustomerImport(MethodView):
    @blp.doc(
        summary="Import customers from CSV or XLSX (a task)",
        requestBody=IMPORT_REQUEST_BODY,
        parameters=[SYNC_PARAMETER],
    )
    @blp.response(202, TaskSchema, description="Queued: follow Location (GET /api/v1/tasks/<id>)")
    @blp.alt_response(200, description="sync=true and a small file: the import report")
    def post(self):
        """Queue the import as a task and answer ``202`` with ``Location: /api/v1/tasks/<id>``;
        the task's ``result`` is the report. Every row is validated first; ``all_or_nothing``
        (default) imports nothing if any row is bad (the task fails with the 422 error, its
        ``report`` listing each row's errors), ``valid_only`` imports the good rows and reports the
        rest. The task runs as you (row scopes, placement, field rules). ``sync=true`` runs a small
        file inside the request as before."""
        data, filename, mode = import_upload()
        encoding = import_encoding()
        actor = current_actor()
        check_mode(mode)
        permissions.require(actor, "customers", "create")
        if wants_sync() and small_upload(data, filename, encoding):
            report = import_customers(data, filename, mode, actor, encoding=encoding)
            return Response(json.dumps(report, ensure_ascii=False), status=200, mimetype="application/json")
        params = {"mode": mode, **({"encoding": encoding} if encoding else {})}
        return accepted(tasks.queue("customers.import", actor, params, data, filename))


@blp.route("/customers/export")
class CustomerExport(MethodView):
    @blp.doc(
        summary="Export customers as CSV or XLSX",
        parameters=[{"in": "query", "name": "format", "schema": {"type": "string", "enum": ["csv", "xlsx"]}}],
    )
    @blp.response(200)
    @blp.alt_response(202, description="Over EXPORT_TASK_ROWS rows: queued; the task's file is the export")
    def get(self):
        """Every customer the list filters select (no paging), within your export scope. More than
        ``EXPORT_TASK_ROWS`` (5,000) rows: ``202`` and a task (``Location``) whose file
        (``GET /api/v1/tasks/<id>/file``) is the export."""
        actor = current_actor()
        args = request.args
        out = export_or_task(args, actor, args.get("format", "csv"))
        return out if isinstance(out, Response) else accepted(out)
