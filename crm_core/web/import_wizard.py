"""The import wizard of every collection: upload, preview and column mapping, then a task.

1. ``/records/<resource>/import`` (``web.record_import``, in :mod:`crm_core.web.transfer`):
   a CSV (UTF-8, UTF-8 with BOM, GB18030/GBK; the user may pick another encoding) or XLSX file
   is uploaded and kept for this user (:mod:`crm_core.records.import_store`).
2. ``/records/<resource>/import/<upload>`` (``web.import_mapping``): the first rows as decoded
   (the encoding can be changed there), and for each column of the file the field it fills or
   "skip", pre-filled from the user's last mapping for this collection, then the field names and
   labels in both languages (``名称``, ``Phone``, custom-field labels) and the usual Chinese
   headings. The mode is *create* (every row is a new record) or *create or update*: a row whose
   id / phone / e-mail (the match key the user chose) matches a record updates it.
3. Posting the mapping remembers it and queues a ``records.import_wizard`` task; the import page
   follows its progress (``/tasks/<id>/progress``) to the report, whose refused rows (row number,
   column, message, in the user's language) download as CSV or XLSX (``web.task_errors``).

The parts: :mod:`crm_core.web.import_wizard_fields` (what can be imported and the suggested
mapping) and :mod:`crm_core.web.import_wizard_rows` (reading the file, saving the rows); this
module holds the task and the pages.

Every row goes through the create/edit form's path (``web.forms.submit``, hence
``crm_core.records.service.create`` / ``update``) as the user, in its own savepoint: a row that
matches a record outside the user's update scope is refused with a message, never written.
"""

from __future__ import annotations

import datetime as dt

import tablib
from flask import g, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import permissions
from ..api.tasks import visible_task
from ..errors import APIError
from ..jobs import tasks
from ..records import import_store
from ..transfer import decoding, tabular
from ..transfer import headers as headings
from .blueprint import bp
from .forms import FormErrors, flatten_messages
from .import_wizard_fields import ID_COLUMN, importable_fields, match_keys, suggest
from .import_wizard_rows import import_rows, read_file
from .registry import WebResource, get_resource
from .session import login_required

TASK_KIND = "records.import_wizard"
PREVIEW_ROWS = 10
MODES = (("create", _l("Create new records only")), ("upsert", _l("Create, or update the matching record")))

tasks.register_kind(TASK_KIND, "crm_core.web.import_wizard:import_task")


def import_task(ctx) -> dict:
    """The ``records.import_wizard`` task: the file read with the chosen encoding and mapping,
    every row saved as the user who queued it, messages in their language."""
    params = ctx.params
    with force_locale(params.get("locale") or "en"):
        res = get_resource(params["resource"])
        may_import(ctx.actor, res)
        ctx.progress(0, None, "reading")
        try:
            headers, rows = read_file(ctx.input_data, ctx.input_name, params.get("encoding") or "")
        except FormErrors as exc:
            raise APIError(400, exc.message, errors={"file": exc.errors.get("file", [])}) from None
        return import_rows(
            res,
            ctx.actor,
            headers,
            rows,
            list(params.get("columns") or []),
            params.get("mode") or "create",
            params.get("match_key") or "",
            ctx.progress,
        )


def queue(res: WebResource, actor, data: bytes, filename: str, columns, mode, match_key, encoding):
    """Queue the import of an uploaded file with its mapping; returns the task."""
    params = {
        "via": "web",
        "resource": res.resource,
        "locale": str(get_locale() or "en"),
        "columns": list(columns),
        "mode": mode,
        "match_key": match_key,
        "encoding": encoding,
    }
    return tasks.queue(TASK_KIND, actor, params, data, filename)


def may_import(actor, res: WebResource) -> None:
    """403 unless ``actor`` may create records of ``res`` (the wizard's every step)."""
    permissions.require(actor, res.resource, "create")


# --- pages -----------------------------------------------------------------------------------------


def remembered(actor, resource: str):
    """``actor``'s last mapping for ``resource`` (or None) and its columns (heading -> field)."""
    stored = import_store.mapping_of(actor.id, resource)
    return stored, (dict(stored.columns or {}) if stored is not None else {})


def start_upload(res: WebResource, actor, upload, encoding: str):
    """Step 1: keep the uploaded file for ``actor`` once it reads (``FormErrors`` if not)."""
    if upload is None or not upload.filename:
        message = _("Choose a CSV or Excel file.")
        raise FormErrors({"file": [message]}, message)
    try:
        encoding = decoding.check_encoding(encoding)
    except decoding.EncodingProblem as exc:
        raise FormErrors({"encoding": [exc.message]}, exc.message) from None
    data = upload.read()
    read_file(data, upload.filename, encoding)
    return import_store.save_upload(actor.id, res.resource, upload.filename, data, encoding)


@bp.route("/records/<resource>/import/<int:upload_id>", methods=["GET", "POST"])
@login_required
def import_mapping(resource, upload_id):
    """Step 2: the first rows as decoded, the column mapping and the mode; posting it queues
    the import and shows its progress on the import page."""
    actor = g.actor
    res = get_resource(resource)
    may_import(actor, res)
    upload = import_store.upload_of(upload_id, actor.id, res.resource)
    if upload is None:
        raise APIError(
            404, _("This upload is gone (it was imported or is over a day old); upload the file again.")
        )
    fields = importable_fields(res, actor)
    keys = match_keys(res, fields)
    stored, known = remembered(actor, res.resource)
    form = request.form if request.method == "POST" else request.args
    encoding = form.get("encoding", upload.encoding) or ""
    errors: dict = {}
    status = 200
    try:
        encoding = decoding.check_encoding(encoding)
    except decoding.EncodingProblem as exc:
        errors["encoding"] = [exc.message]
        encoding = upload.encoding
    headers, rows = [], []
    try:
        headers, rows = read_file(bytes(upload.data), upload.filename, encoding)
    except FormErrors as exc:
        errors.update(exc.errors)
        status = 422
    if headers and encoding != upload.encoding and not errors:
        import_store.set_upload_encoding(upload, encoding)
    columns = suggest(headers, res, fields, known)
    mode = (stored.mode if stored is not None else "create") or "create"
    match_key = (stored.match_key if stored is not None else "") or ""
    if request.method == "POST" and headers and "file" not in errors:
        columns = [form.get(f"column-{i}", "") for i in range(len(headers))]
        mode = form.get("mode", "create")
        match_key = form.get("match_key", "")
        problems = check_mapping(res, fields, keys, headers, columns, mode, match_key)
        errors.update(problems)
        if not errors:
            normalised = {
                headings.normalise(h): c for h, c in zip(headers, columns, strict=False) if h.strip()
            }
            import_store.remember_mapping(actor.id, res.resource, normalised, mode, match_key, encoding)
            task = queue(res, actor, bytes(upload.data), upload.filename, columns, mode, match_key, encoding)
            import_store.drop_upload(upload)
            return redirect(url_for("web.record_import", resource=resource, task=task.id), 303)
        status = 422
    if match_key not in {k for k, _label in keys}:
        match_key = keys[1][0] if len(keys) > 1 else ID_COLUMN
    return render_template(
        "crm/records/import_mapping.html",
        res=res,
        upload=upload,
        fields=fields,
        headers=headers,
        preview=rows[:PREVIEW_ROWS],
        row_count=len(rows),
        columns=columns,
        mode=mode,
        modes=MODES,
        match_key=match_key,
        match_keys=keys,
        encoding=encoding,
        encodings=decoding.ENCODINGS,
        errors=errors,
        id_column=ID_COLUMN,
    ), status


def check_mapping(res, fields, keys, headers, columns, mode, match_key) -> dict:
    """Messages (by input) on a mapping that cannot run: nothing mapped, a field chosen twice,
    an unknown mode or match key, the match key's column missing, a required field unmapped."""
    errors: dict = {}
    names = {f.name: f for f in fields}
    chosen = [c for c in columns if c]
    if mode not in {m for m, _label in MODES}:
        errors["mode"] = [_("Choose what to do with each row.")]
    for i, column in enumerate(columns):
        if column and column not in names and column != ID_COLUMN:
            errors[f"column-{i}"] = [_("Not a field you may fill.")]
        elif column and chosen.count(column) > 1:
            errors[f"column-{i}"] = [_("Another column already fills this field.")]
    if not [c for c in chosen if c != ID_COLUMN]:
        errors["columns"] = [
            _(
                "No column is mapped to a field. Choose a field for at least one column (the headings are: %(h)s).",
                h=", ".join(h for h in headers if h) or "-",
            )
        ]
    if mode == "upsert":
        if match_key not in {k for k, _label in keys}:
            errors["match_key"] = [_("Choose how rows find the record to update.")]
        elif match_key not in columns:
            label = dict(keys)[match_key]
            errors["match_key"] = [_("Map a column to %(field)s: rows are matched by it.", field=label)]
    else:
        missing = [f.label for f in fields if f.required and f.name not in columns]
        if missing:
            errors["columns"] = errors.get("columns", []) + [
                _("Required fields have no column: %(fields)s.", fields=", ".join(missing))
            ]
    return errors


@bp.route("/tasks/<int:task_id>/errors.<fmt>")
@login_required
def task_errors(task_id, fmt):
    """The refused rows of one of your imports as a CSV or XLSX file: row number, column
    heading, field and message, one line per message."""
    if fmt not in tabular.MEDIA_TYPES:
        raise APIError(404, _("No such file format."))
    task = visible_task(task_id, g.actor)
    if task.kind.endswith(".export") or task.status != tasks.DONE or not task.result:
        raise APIError(404, _("This task has no refused rows to download."))
    data = error_dataset(task.result)
    stamp = dt.date.today().isoformat()
    response = tabular.download(data, fmt, f"import-{task.id}-errors")
    response.headers["Content-Disposition"] = f'attachment; filename="import-{task.id}-errors-{stamp}.{fmt}"'
    return response


def error_dataset(report: dict) -> tablib.Dataset:
    """The refused rows of an import report, one line per message (headings in the reader's
    language; the messages are in the language the import ran in)."""
    data = tablib.Dataset(headers=[_("Row"), _("Column"), _("Field"), _("Problem")])
    for error in report.get("errors") or []:
        columns = error.get("columns") or {}
        for name, messages in flatten_messages(error.get("errors") or {}).items():
            field = "" if name == "_schema" else name
            for message in messages:
                data.append([error.get("row"), columns.get(name, ""), field, message])
    return data
