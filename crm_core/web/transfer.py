"""CSV / Excel export and import pages for every collection (tablib + openpyxl).

Export uses ``list_query(action="export")``: the export grant's row scope, the page's filters and
sort, and ``Crud.dump`` masking, so a hidden field is never in the file. Import is the wizard of
:mod:`crm_core.web.import_wizard` (upload with an encoding choice, preview, column mapping,
create or update): its first page is ``/records/<resource>/import`` here; a file posted there
without the wizard (a script) is imported with the suggested mapping. Either way every row is
saved through the same path as the create form, in its own savepoint: good rows are saved, bad
rows are listed with their row number, column and messages (downloadable as a file).

Both are tasks (``crm_core.jobs.tasks``): every import is queued (``records.import_wizard``, or
``records.import`` for a direct post) and the import page follows its progress
(``/tasks/<id>/progress``, polled by htmx) to the report; an export of more than
``EXPORT_TASK_ROWS`` rows is queued (``customers.export`` / ``records.export``) and ``/tasks/<id>``
shows its progress and then the link to its file (``/tasks/<id>/file``).
"""

from __future__ import annotations

import json

import tablib
from flask import Response, current_app, g, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from .. import audit
from ..api.tasks import file_response, task_dict, visible_task
from ..errors import APIError
from ..jobs import tasks
from ..records import listing
from ..transfer import decoding, tabular
from ..transfer.customers import export_customers, export_or_task
from .blueprint import bp
from .forms import FormErrors, flatten_messages
from .records import list_args
from .registry import fields_for, get_resource
from .session import login_required

EXPORT_BATCH = 500


def _cell(value):
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


@bp.route("/records/<resource>/export.<fmt>")
@login_required
def record_export(resource, fmt):
    """The filtered collection as CSV or XLSX, within the export scope, hidden fields left out;
    over ``EXPORT_TASK_ROWS`` rows, a task (the page then shows its progress and the download)."""
    if fmt not in tabular.MEDIA_TYPES:
        raise APIError(404, f"No export format {fmt!r}.")
    actor = g.actor
    res = get_resource(resource)
    args = list_args(res, actor, request.args)
    if resource == "customers":  # the API's export: same columns its import reads back
        out = export_or_task(args, actor, fmt)
        if isinstance(out, Response):
            return out
        return redirect(url_for("web.task_page", task_id=out.id), 303)
    if _export_query(res, actor, args).count() <= current_app.config["EXPORT_TASK_ROWS"]:
        return export_response(resource, actor, args, fmt)
    params = {"via": "web", "resource": resource, "args": tabular.query_pairs(args), "format": fmt}
    task = tasks.queue("records.export", actor, params)
    return redirect(url_for("web.task_page", task_id=task.id), 303)


def _export_query(res, actor, args):
    rows, _total = listing.list_query(
        res.model, res.resource, args, actor, action="export", paginate=False, **res.list_options()
    )
    return rows


def export_response(resource: str, actor, args, fmt: str, progress=None) -> Response:
    """The export download of a collection (``args``: the page's list arguments), audited as
    ``export``; ``progress(done, total, phase)`` (a task's) hears how far it got."""
    res = get_resource(resource)
    if resource == "customers":
        return export_customers(args, actor, fmt, progress)
    # ``id`` leads every export (the import matches rows by it), so it is not repeated among
    # the fields
    fields = [f for f in fields_for(res, actor) if (f.widget != "json" or f.custom) and f.key != "id"]
    rows = _export_query(res, actor, args)
    if progress is not None:
        progress(0, rows.count(), "exporting")
    data = tablib.Dataset(headers=["id", *[f.key for f in fields]])
    batch = []
    for record in rows.iterator():
        batch.append(record)
        if len(batch) >= EXPORT_BATCH:
            _append(data, res, actor, fields, batch)
            batch = []
            if progress is not None:
                progress(data.height)
    _append(data, res, actor, fields, batch)
    if progress is not None:
        progress(data.height)
    audit.record_event(
        actor, "export", res.resource, extra={"filter": args, "rows": len(data), "format": fmt}
    )
    response = tabular.download(data, fmt, resource.replace(".", "-"))
    response.crm_rows = data.height
    return response


def _append(data, res, actor, fields, records) -> None:
    if not records:
        return
    for row in res.crud.dump(records, actor):
        data.append([row.get("id"), *[_cell(f.value_of(row)) for f in fields]])


def import_task_report(resource: str, actor, data: bytes, filename: str, progress=None) -> dict:
    """The ``records.import`` task of a file posted straight to ``/records/<resource>/import``
    (no wizard steps: scripts, older pages): the columns mapped as the wizard would suggest
    (the user's remembered mapping, then the field names, labels and aliases), every row
    created through the create form's path; the report as the wizard's."""
    res = get_resource(resource)
    import_wizard.may_import(actor, res)
    if progress is not None:
        progress(0, None, "reading")
    try:
        headers, rows = import_wizard.read_file(data, filename)
    except FormErrors as exc:
        raise APIError(400, exc.message, errors={"file": exc.errors.get("file", [])}) from None
    fields = import_wizard.importable_fields(res, actor)
    _stored, known = import_wizard.remembered(actor, res.resource)
    columns = import_wizard.suggest(headers, res, fields, known)
    if not any(c and c != import_wizard.ID_COLUMN for c in columns):
        message = _("No column of the file matches a field; its headings are: %(h)s.", h=", ".join(headers))
        raise APIError(400, message, errors={"file": [message]})
    return import_wizard.import_rows(res, actor, headers, rows, columns, "create", "", progress)


def queue_import(resource: str, upload, actor):
    """A file posted without the wizard's steps: checked here (readable, not empty, at most
    ``import_wizard.MAX_IMPORT_ROWS`` rows), then imported by a ``records.import`` task
    (:func:`import_task_report`)."""
    from flask_babel import get_locale

    data, filename = upload.read(), upload.filename or "upload.csv"
    import_wizard.read_file(data, filename)
    params = {"via": "web", "resource": resource, "locale": str(get_locale() or "en")}
    return tasks.queue("records.import", actor, params, data, filename)


def task_view(task) -> dict:
    """What the progress fragment shows of a task: its state, progress, and the report in this
    page's shape when done (or the error's messages when it failed)."""
    view = task_dict(task)
    view["report"] = None
    view["problems"] = {}
    view["export"] = task.kind.endswith(".export")
    view["download"] = url_for("web.task_file", task_id=task.id) if view["file"] else None
    if task.status == "done" and task.result and not view["export"]:
        report = task.result
        view["report"] = {
            "created": report.get("imported", 0),
            "updated": report.get("updated", 0),
            "upsert": report.get("mode") == "upsert",
            "errors": [
                (e["row"], flatten_messages(e["errors"]), e.get("columns") or {})
                for e in report.get("errors", [])
            ],
            "unknown": report.get("ignored_columns", []),
            "truncated": report.get("errors_truncated", False),
            "error_files": {
                fmt: url_for("web.task_errors", task_id=task.id, fmt=fmt) for fmt in tabular.MEDIA_TYPES
            }
            if report.get("errors")
            else {},
        }
    elif task.status == "failed":
        error = task.error or {}
        view["problems"] = flatten_messages(error.get("errors") or {}) or {"file": [error.get("message", "")]}
    return view


@bp.route("/tasks/<int:task_id>")
@login_required
def task_page(task_id):
    """One of your tasks (a large export): its progress, then the download link."""
    task = task_view(visible_task(task_id, g.actor))
    return render_template("crm/records/task.html", task=task)


@bp.route("/tasks/<int:task_id>/file")
@login_required
def task_file(task_id):
    """The file one of your tasks produced (the workbench's ``/api/v1/tasks/<id>/file``)."""
    return file_response(task_id, g.actor)


@bp.route("/tasks/<int:task_id>/progress")
@login_required
def task_progress(task_id):
    """The progress fragment of one of your tasks (polled by htmx until the task has finished)."""
    task = visible_task(task_id, g.actor)
    return render_template("crm/records/task_progress.html", task=task_view(task))


@bp.route("/records/<resource>/import", methods=["GET", "POST"])
@login_required
def record_import(resource):
    """The import wizard's first step (:mod:`crm_core.web.import_wizard`): choose a CSV or
    XLSX file and its encoding, then map its columns on the next page. ``?task=<id>`` follows a
    queued import to its report. A file posted without ``step=upload`` (a script) is imported
    at once with the suggested mapping."""
    actor = g.actor
    res = get_resource(resource)
    import_wizard.may_import(actor, res)
    fields = import_wizard.importable_fields(res, actor)
    errors, status = {}, 200
    stored, _columns = import_wizard.remembered(actor, res.resource)
    encoding = request.form.get("encoding", stored.encoding if stored is not None else "")
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            if request.form.get("step") == "upload":
                stored = import_wizard.start_upload(res, actor, upload, encoding)
                return redirect(url_for("web.import_mapping", resource=resource, upload_id=stored.id), 303)
            if upload is None or not upload.filename:
                raise FormErrors({"file": [_("Choose a CSV or Excel file.")]})
            task = queue_import(resource, upload, actor)
            return redirect(url_for("web.record_import", resource=resource, task=task.id), 303)
        except FormErrors as exc:
            errors, status = exc.errors, 422
    task = None
    task_id = request.args.get("task", type=int)
    if task_id is not None and request.method == "GET":
        task = task_view(visible_task(task_id, actor))
    return render_template(
        "crm/records/import.html",
        res=res,
        fields=fields,
        errors=errors,
        task=task,
        encoding=encoding,
        encodings=decoding.ENCODINGS,
    ), status


from . import import_wizard  # noqa: E402  (its views attach to the blueprint; it uses this module's pages)


def _task_args(ctx) -> MultiDict:
    return MultiDict([tuple(pair) for pair in ctx.params.get("args") or []])


def import_task(ctx) -> dict:
    """A queued workbench import (task ``records.import`` with ``via: "web"``), its row messages
    in the language of the page it was started from."""
    with force_locale(ctx.params.get("locale") or "en"):
        return import_task_report(
            ctx.params["resource"], ctx.actor, ctx.input_data, ctx.input_name, ctx.progress
        )


def export_task(ctx):
    """A queued workbench export (task ``records.export`` with ``via: "web"``): the file."""
    return export_response(
        ctx.params["resource"], ctx.actor, _task_args(ctx), ctx.params.get("format", "csv"), ctx.progress
    )
