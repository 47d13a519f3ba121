"""CSV / Excel export and import pages for every collection (tablib + openpyxl).

Export uses ``list_query(action="export")``: the export grant's row scope, the page's filters and
sort, and ``Crud.dump`` masking, so a hidden field is never in the file. Import reads CSV (UTF-8,
UTF-8 with BOM, GBK/GB18030 from Excel; decoded with charset-normalizer) or XLSX, maps the header
row to fields by API name or label in either language (``姓名`` -> ``name``), and saves each row
through the same path as the create form, in its own savepoint: good rows are saved, bad rows
are listed with their row number and per-field messages.

Both are tasks (``crm_core.jobs.tasks``) when long: every import is queued (customers as
``customers.import``, other collections as ``records.import``) and the import page follows its
progress (``/tasks/<id>/progress``, polled by htmx) to the report; an export of more than
``EXPORT_TASK_ROWS`` rows is queued (``customers.export`` / ``records.export``) and ``/tasks/<id>``
shows its progress and then the link to its file (``/tasks/<id>/file``).
"""

from __future__ import annotations

import json

import tablib
from flask import Response, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import audit, permissions
from ..entities.transfer import HEADER_ALIASES  # the usual Chinese headers (姓名, 手机...)
from ..errors import APIError
from ..records import listing, tabular
from .blueprint import bp
from .forms import FormErrors, flatten_messages, submit
from .records import list_args
from .registry import FIELD_LABELS, fields_for, get_resource
from .session import login_required

MAX_IMPORT_ROWS = 5000
EXPORT_BATCH = 500
PROGRESS_EVERY = 100


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
    from ..jobs import tasks

    if fmt not in tabular.MEDIA_TYPES:
        raise APIError(404, f"No export format {fmt!r}.")
    actor = g.actor
    res = get_resource(resource)
    args = list_args(res, actor, request.args)
    if resource == "customers":  # the API's export: same columns its import reads back
        from ..entities.transfer import export_or_task

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
        from ..entities.transfer import export_customers

        return export_customers(args, actor, fmt, progress)
    fields = [f for f in fields_for(res, actor) if f.widget != "json" or f.custom]
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


def read_dataset(data: bytes, filename: str) -> tablib.Dataset:
    """An uploaded CSV or XLSX (read by ``records.tabular``, as the API's importers do) as a
    dataset with a header row; ``FormErrors`` when unreadable or longer than ``MAX_IMPORT_ROWS``."""
    try:
        headers, rows = tabular.read_table(data, filename or "")
    except APIError:
        raise FormErrors({"file": [_("The file could not be read as CSV or Excel.")]}) from None
    width = len(headers)
    dataset = tablib.Dataset(headers=headers)
    for row in rows:
        if dataset.height >= MAX_IMPORT_ROWS:
            raise FormErrors({"file": [_("At most %(n)s rows per file.", n=MAX_IMPORT_ROWS)]})
        dataset.append((row + [""] * width)[:width])
    return dataset


def queue_import(resource: str, upload, actor):
    """Any other collection: the file is checked here (readable, at most ``MAX_IMPORT_ROWS``
    rows) and its rows saved by a ``records.import`` task through the create form's path
    (:func:`import_task_report`); the page shows its progress and then the report."""
    from flask_babel import get_locale

    from ..jobs import tasks

    data, filename = upload.read(), upload.filename or "upload.csv"
    read_dataset(data, filename)
    params = {"via": "web", "resource": resource, "locale": str(get_locale() or "en")}
    return tasks.queue("records.import", actor, params, data, filename)


def import_task_report(resource: str, actor, data: bytes, filename: str, progress=None) -> dict:
    """The ``records.import`` task of a workbench import: every row saved as the create form
    saves it; the report in the API's shape (``imported``, ``failed``, ``errors`` by row)."""
    res = get_resource(resource)
    permissions.require(actor, res.resource, "create")
    if progress is not None:
        progress(0, None, "reading")
    try:
        dataset = read_dataset(data, filename)
    except FormErrors as exc:
        raise APIError(400, "The file could not be read.", errors=_plain(exc.errors)) from None
    result = import_rows(res, actor, dataset, progress)
    return {
        "mode": "valid_only",
        "total_rows": dataset.height,
        "imported": result["created"],
        "failed": len(result["errors"]),
        "ignored_columns": result["unknown"],
        "errors": [{"row": number, "errors": _plain(problems)} for number, problems in result["errors"]],
        "errors_truncated": False,
    }


def _plain(value):
    """Messages as JSON (lazy translations turned into text)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def queue_customer_import(upload, actor):
    """Customers go through the API's bulk importer (duplicate checks within the file, Chinese
    headers, up to 100,000 rows) in valid-rows-only mode, as a task (``customers.import``): the
    page then shows its progress and, when done, the report."""
    from ..jobs import tasks

    data = upload.read()
    if not data:
        raise FormErrors({"file": [_("The file could not be read as CSV or Excel.")]})
    return tasks.queue(
        "customers.import", actor, {"mode": "valid_only"}, data, upload.filename or "upload.csv"
    )


def task_view(task) -> dict:
    """What the progress fragment shows of a task: its state, progress, and the report in this
    page's shape when done (or the error's messages when it failed)."""
    from ..jobs.tasks_api import task_dict

    view = task_dict(task)
    view["report"] = None
    view["problems"] = {}
    view["export"] = task.kind.endswith(".export")
    view["download"] = url_for("web.task_file", task_id=task.id) if view["file"] else None
    if task.status == "done" and task.result and not view["export"]:
        report = task.result
        view["report"] = {
            "created": report.get("imported", 0),
            "errors": [(e["row"], flatten_messages(e["errors"])) for e in report.get("errors", [])],
            "unknown": report.get("ignored_columns", []),
        }
    elif task.status == "failed":
        error = task.error or {}
        view["problems"] = flatten_messages(error.get("errors") or {}) or {"file": [error.get("message", "")]}
    return view


@bp.route("/tasks/<int:task_id>")
@login_required
def task_page(task_id):
    """One of your tasks (a large export): its progress, then the download link."""
    from ..jobs.tasks_api import visible_task

    task = task_view(visible_task(task_id, g.actor))
    return render_template("crm/records/task.html", task=task)


@bp.route("/tasks/<int:task_id>/file")
@login_required
def task_file(task_id):
    """The file one of your tasks produced (the workbench's ``/api/v1/tasks/<id>/file``)."""
    from ..jobs.tasks_api import file_response

    return file_response(task_id, g.actor)


@bp.route("/tasks/<int:task_id>/progress")
@login_required
def task_progress(task_id):
    """The progress fragment of one of your tasks (polled by htmx until the task has finished)."""
    from ..jobs.tasks_api import visible_task

    task = visible_task(task_id, g.actor)
    return render_template("crm/records/task_progress.html", task=task_view(task))


def header_map(headers, fields) -> tuple[dict[int, object], list[str]]:
    """Column index -> field for the known headers, and the headers that match no field."""
    lookup = {}
    for f in fields:
        names = {f.name, f.key, f.label, str(FIELD_LABELS.get(f.key, ""))}
        for alias, target in HEADER_ALIASES.items():
            if target == f.key and not f.custom:
                names.add(alias)
        for n in names:
            if n:
                lookup[n.strip().lower()] = f
    mapping, unknown = {}, []
    for i, header in enumerate(headers or []):
        key = str(header or "").strip().lower()
        if key in ("", "id"):
            continue
        if key in lookup:
            mapping[i] = lookup[key]
        else:
            unknown.append(str(header))
    return mapping, unknown


def import_rows(res, actor, dataset, progress=None) -> dict:
    """Save every row; returns ``{"created": n, "errors": [(row number, {field: msgs})], ...}``
    (``progress(done, total, phase)``, a task's, hears every ``PROGRESS_EVERY`` rows)."""
    fields = [f for f in fields_for(res, actor, for_form=True) if f.writable]
    mapping, unknown = header_map(dataset.headers, fields)
    created, errors = 0, []
    mapped_fields = list(mapping.values())
    if progress is not None:
        progress(0, dataset.height, "importing")
    for number, row in enumerate(dataset, start=2):  # row 1 is the header
        if progress is not None and number > 2 and (number - 2) % PROGRESS_EVERY == 0:
            progress(number - 2)
        values = {}
        for i, f in mapping.items():
            cell = row[i] if i < len(row) else None
            values[f.name] = "" if cell is None else str(cell)
        try:
            submit(
                res,
                actor,
                mapped_fields,
                values.get,
                lambda name, v=values: [p.strip() for p in v.get(name, "").split(",") if p.strip()],
            )
            created += 1
        except FormErrors as exc:
            errors.append((number, exc.errors or {"_schema": [exc.message]}))
        except APIError as exc:
            errors.append((number, {"_schema": [exc.message]}))
    if progress is not None:
        progress(dataset.height)
    return {"created": created, "errors": errors, "unknown": unknown, "mapped": mapped_fields}


@bp.route("/records/<resource>/import", methods=["GET", "POST"])
@login_required
def record_import(resource):
    """Upload a CSV or XLSX; shows how many rows were saved and each refused row's messages."""
    actor = g.actor
    res = get_resource(resource)
    permissions.require(actor, res.resource, "create")
    fields = [f for f in fields_for(res, actor, for_form=True) if f.writable]
    result, errors, status = None, {}, 200
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise FormErrors({"file": [_("Choose a CSV or Excel file.")]})
            if resource == "customers":
                task = queue_customer_import(upload, actor)
            else:
                task = queue_import(resource, upload, actor)
            return redirect(url_for("web.record_import", resource=resource, task=task.id), 303)
        except FormErrors as exc:
            errors, status = exc.errors, 422
    task = None
    task_id = request.args.get("task", type=int)
    if task_id is not None and request.method == "GET":
        from ..jobs.tasks_api import visible_task

        task = task_view(visible_task(task_id, actor))
    return render_template(
        "crm/records/import.html", res=res, fields=fields, result=result, errors=errors, task=task
    ), status
