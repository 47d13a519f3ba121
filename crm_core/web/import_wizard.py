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

Every row goes through the create/edit form's path (``web.forms.submit``, hence
``crm_core.records.service.create`` / ``update``) as the user, in its own savepoint: a row that
matches a record outside the user's update scope is refused with a message, never written.
"""

from __future__ import annotations

import datetime as dt
import re

import tablib
from flask import g, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import permissions
from ..db import write_transaction
from ..errors import APIError
from ..jobs import tasks
from ..records import decoding, import_store, tabular
from ..records import headers as headings
from .blueprint import bp
from .forms import FormErrors, flatten_messages, submit
from .registry import FIELD_LABELS, VALUE_LABELS, FormField, WebResource, fields_for, get_resource
from .session import login_required

TASK_KIND = "records.import_wizard"
MAX_IMPORT_ROWS = 20_000
PREVIEW_ROWS = 10
CHUNK = 50  # rows per transaction: progress shows and other writers get their turn
MAX_REPORTED_ERRORS = 2000
MODES = (("create", _l("Create new records only")), ("upsert", _l("Create, or update the matching record")))
ID_COLUMN = "id"
MATCH_FIELDS = ("phone", "email")
MATCH_TYPES = ("phone", "email")
TAG_SEPARATORS = ("，", ";", "；", "|", "、")
_DATE = re.compile(r"\d{4}[/.]\d{1,2}[/.]\d{1,2}")

tasks.register_kind(TASK_KIND, "crm_core.web.import_wizard:import_task")


# --- what can be imported ------------------------------------------------------------------------


def importable_fields(res: WebResource, actor) -> list[FormField]:
    """The fields a file may fill for ``actor``: the create form's writable ones."""
    return [f for f in fields_for(res, actor, for_form=True) if f.writable]


def _custom_defs(res: WebResource) -> dict:
    if not res.has_custom:
        return {}
    from ..metadata import custom_fields

    return {fd.name: fd for fd in custom_fields(res.resource)}


def match_keys(res: WebResource, fields: list[FormField]) -> list[tuple[str, str]]:
    """``(key, label)`` of what a row can be matched by: the id, and the phone and e-mail
    fields (core columns or custom fields of those types) the user may fill."""
    defs = _custom_defs(res)
    out = [(ID_COLUMN, str(FIELD_LABELS["id"]))]
    for f in fields:
        if (not f.custom and f.name in MATCH_FIELDS) or (
            f.custom and getattr(defs.get(f.key), "type", "") in MATCH_TYPES
        ):
            out.append((f.name, f.label))
    return out


def aliases(res: WebResource, fields: list[FormField]) -> dict[str, str]:
    """Normalised heading -> field name: names first, then labels in every language, then the
    usual Chinese headings (customers') and the generic name headings."""
    from ..entities.transfer import HEADER_ALIASES

    out: dict[str, str] = {}

    def add(text, target):
        key = headings.normalise(text)
        if key:
            out.setdefault(key, target)

    for f in fields:
        add(f.name, f.name)
        add(f.key, f.name)
    add(ID_COLUMN, ID_COLUMN)
    custom = headings.custom_aliases([fd for fd in _custom_defs(res).values()])
    for f in fields:
        add(f.label, f.name)
        if f.custom:
            continue
        for text in headings.label_aliases([f.name]):
            add(text, f.name)
    for text, target in custom.items():
        if any(f.name == target for f in fields):
            add(text, target)
    for text in headings.translations(FIELD_LABELS["id"]) | {"编号", "ID号"}:
        add(text, ID_COLUMN)
    names = {f.name for f in fields}
    if res.resource == "customers":
        for text, target in HEADER_ALIASES.items():
            if target in names:
                add(text, target)
    if "name" in names:
        for text in headings.NAME_ALIASES:
            add(text, "name")
    return out


def suggest(headers: list[str], res: WebResource, fields: list[FormField], previous: dict) -> list[str]:
    """The field each column fills ("" to skip): the user's last choice for that heading, else
    the aliases; a field already taken by an earlier column is not offered twice."""
    known = {f.name for f in fields} | {ID_COLUMN}
    table = aliases(res, fields)
    taken: set[str] = set()
    out = []
    for header in headers:
        key = headings.normalise(header)
        target = previous.get(key) if key in previous else table.get(key, "")
        if target not in known or target in taken:
            target = ""
        if target:
            taken.add(target)
        out.append(target)
    return out


# --- reading the upload --------------------------------------------------------------------------


def read_file(
    data: bytes, filename: str, encoding: str = ""
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Headings and the numbered non-blank rows of an upload (row 1 is the heading row, as a
    spreadsheet numbers it); ``FormErrors`` on the ``file`` input, in the user's language,
    when it is empty, undecodable, unreadable, headless, has no data rows or too many."""
    try:
        headers, rows = tabular.read_table(data, filename or "", encoding or None)
    except APIError as exc:
        raise FormErrors({"file": [exc.message]}, exc.message) from None
    if not any(h.strip() for h in headers):
        message = _("The first row must name the columns (for example 名称, 手机, 邮箱).")
        raise FormErrors({"file": [message]}, message)
    width = len(headers)
    numbered = []
    for number, cells in enumerate(rows, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(numbered) >= MAX_IMPORT_ROWS:
            message = _("At most %(n)s rows per file.", n=MAX_IMPORT_ROWS)
            raise FormErrors({"file": [message]}, message)
        numbered.append((number, (cells + [""] * width)[:width]))
    if not numbered:
        message = _("The file has a heading row but no data rows.")
        raise FormErrors({"file": [message]}, message)
    return headers, numbered


# --- one row ---------------------------------------------------------------------------------------


class _Lookup:
    """Value spellings of the choice fields (``男`` or ``male`` for ``male``)."""

    def __init__(self, res: WebResource, fields: list[FormField]):
        from ..entities.transfer import VALUE_ALIASES

        defs = _custom_defs(res)
        self.choices: dict[str, dict[str, str]] = {}
        for f in fields:
            if f.widget not in ("select", "multiselect"):
                continue
            table: dict[str, str] = {}
            for value, label in f.choices:
                table.setdefault(headings.normalise(label), value)
                if f.custom:
                    fd = defs.get(f.key)
                    for choice in getattr(fd, "choices", None) or []:
                        if choice.get("value") == value:
                            for text in headings.translations(choice.get("label")):
                                table.setdefault(headings.normalise(text), value)
                elif value in VALUE_LABELS:
                    for text in headings.translations(VALUE_LABELS[value]):
                        table.setdefault(headings.normalise(text), value)
            if res.resource == "customers" and not f.custom:
                for text, value in VALUE_ALIASES.get(f.name, {}).items():
                    table.setdefault(headings.normalise(text), value)
            for value, _label in f.choices:
                table[headings.normalise(value)] = value  # the value itself always wins
            self.choices[f.name] = table

    def value(self, f: FormField, text: str) -> str:
        table = self.choices.get(f.name)
        if table is None:
            return text
        return table.get(headings.normalise(text), text)


def _cell_values(
    mapped: list[tuple[int, FormField]], cells: list[str], lookup: _Lookup, names: _Names
) -> tuple[dict[str, object], dict[str, list[str]]]:
    """The form values of one row (blank cells left out: create takes the default, update keeps
    the value) and the messages of cells that name no record the user may pick."""
    values: dict[str, object] = {}
    problems: dict[str, list[str]] = {}
    for index, f in mapped:
        text = cells[index].strip() if index < len(cells) else ""
        if text == "":
            continue
        if f.widget == "multiselect":
            for sep in TAG_SEPARATORS:
                text = text.replace(sep, ",")
            values[f.name] = [lookup.value(f, part.strip()) for part in text.split(",") if part.strip()]
            continue
        if f.widget == "select":
            text = lookup.value(f, text)
        elif f.widget == "reference" and f.reference and not text.lstrip("#").isdigit():
            found = names.resolve(f, text)
            if isinstance(found, str):
                problems[f.name] = [found]
                continue
            text = str(found)
        elif f.widget == "reference":
            text = text.lstrip("#")
        elif f.widget == "tags":
            for sep in TAG_SEPARATORS:
                text = text.replace(sep, ",")
        elif f.widget in ("date", "datetime") and _DATE.match(text):
            text = re.sub(r"[/.]", "-", text[:10], count=2) + text[10:]
            parts = text[:10].split("-")
            text = "-".join([parts[0], parts[1].zfill(2), parts[2].zfill(2)]) + text[10:]
        values[f.name] = text
    return values, problems


class _Names:
    """Reference cells written as names (``张三`` for an owner, a company's name): the one
    record of that name the user may read (``web.lookup.search``, hence the permission
    module), looked up once per name."""

    def __init__(self, actor):
        self.actor = actor
        self.cache: dict[tuple[str, str], int | str] = {}

    def resolve(self, f: FormField, text: str) -> int | str:
        """The id, or the message saying why there is none."""
        key = (f.reference, text.lower())
        if key not in self.cache:
            self.cache[key] = self._find(f, text)
        return self.cache[key]

    def _find(self, f: FormField, text: str) -> int | str:
        from .lookup import search

        try:
            entries = search(self.actor, f.reference, text, limit=50)
        except APIError:
            entries = []
        exact = [e["id"] for e in entries if str(e["label"]).strip().lower() == text.lower()]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            return _("Several records are called %(name)s; write the id instead.", name=text)
        return _("Nothing you may choose is called %(name)s.", name=text)


class _RowError(Exception):
    def __init__(self, errors: dict):
        super().__init__("row refused")
        self.errors = errors


def _matching_record(res: WebResource, actor, match_key: str, text: str, fields: dict):
    """The record a row updates (None: the row creates one); ``_RowError`` when the match is
    ambiguous or a record the actor may not update (outside their scope or not theirs to
    change): never written."""
    model = res.model
    if match_key == ID_COLUMN:
        if not text.isdigit():
            raise _RowError({ID_COLUMN: [_("Not a valid id.")]})
        ids = [int(text)]
    else:
        f = fields[match_key]
        value = _normalised(res, f, text)
        if f.custom:
            from .. import metadata

            column = metadata.custom_expression(model, f.key)
        else:
            column = getattr(model, f.name)
        # found without the row scope, so that a match outside it is refused, not duplicated
        ids = [r for (r,) in model.select(model._meta.primary_key).where(column == value).limit(2).tuples()]
        if not ids:
            return None
        if len(ids) > 1:
            raise _RowError({match_key: [_("Several records have this value; none was changed.")]})
    try:
        return res.crud.get(ids[0], actor, action="update", lock=True)
    except APIError as exc:
        if exc.code == 404 and match_key == ID_COLUMN:
            raise _RowError({ID_COLUMN: [_("No record with this id that you may update.")]}) from None
        if exc.code in (403, 404):
            raise _RowError(
                {match_key: [_("This row matches a record you may not update; it was not changed.")]}
            ) from None
        raise


def _normalised(res: WebResource, f: FormField, text: str):
    """The match value as stored (a phone in E.164, an e-mail lower-cased); ``_RowError`` when
    it is not valid. A custom field is normalised by its type here rather than by the custom
    field validator, which would refuse a unique value for being used: by the very record the
    row matches."""
    from marshmallow import ValidationError

    if f.custom:
        fd = _custom_defs(res).get(f.key)
        if getattr(fd, "type", "") != "phone":
            return text.strip().lower()
        from ..entities.schemas import normalize_phone

        try:
            return normalize_phone(text)
        except ValueError as exc:
            raise _RowError(flatten_messages({f.name: [str(exc)]})) from None
    try:
        return res.schema.fields[f.name].deserialize(text)
    except ValidationError as exc:
        raise _RowError(flatten_messages({f.name: exc.messages})) from None


def import_rows(
    res: WebResource,
    actor,
    headers: list[str],
    rows: list[tuple[int, list[str]]],
    columns: list[str],
    mode: str = "create",
    match_key: str = "",
    progress=None,
) -> dict:
    """Save every row as ``actor`` (``columns``: the field each column fills, "" to skip);
    returns the report: ``created``, ``updated``, ``errors`` (row number, messages by input,
    and the heading of each input's column)."""
    fields = {f.name: f for f in importable_fields(res, actor)}
    mapped = [(i, fields[name]) for i, name in enumerate(columns) if name in fields]
    heading_of = {name: headers[i] for i, name in enumerate(columns) if name}
    key_index = columns.index(match_key) if mode == "upsert" and match_key in columns else None
    run = _Run(res, actor, mapped, key_index, match_key, fields)
    created = updated = 0
    errors: list[dict] = []
    total = len(rows)
    if progress is not None:
        progress(0, total, "importing")
    for start in range(0, total, CHUNK):
        with write_transaction():
            for number, cells in rows[start : start + CHUNK]:
                outcome = run.row(cells)
                if outcome == "created":
                    created += 1
                elif outcome == "updated":
                    updated += 1
                else:
                    errors.append({"row": number, "errors": outcome})
            if progress is not None:
                progress(min(total, start + CHUNK))
    for error in errors:
        error["columns"] = {name: heading_of.get(name, "") for name in error["errors"]}
    return {
        "mode": mode,
        "match_key": match_key if mode == "upsert" else "",
        "total_rows": total,
        "imported": created,
        "updated": updated,
        "failed": len(errors),
        "ignored_columns": [h for h, name in zip(headers, columns, strict=False) if not name and h],
        "errors": errors[:MAX_REPORTED_ERRORS],
        "errors_truncated": len(errors) > MAX_REPORTED_ERRORS,
    }


class _Run:
    """One import's fixed parts (mapping, match key, value spellings, names) and its rows."""

    def __init__(self, res, actor, mapped, key_index, match_key, fields):
        self.res, self.actor, self.mapped = res, actor, mapped
        self.mapped_fields = [f for _i, f in mapped]
        self.key_index, self.match_key, self.fields = key_index, match_key, fields
        self.lookup = _Lookup(res, self.mapped_fields)
        self.names = _Names(actor)

    def row(self, cells: list[str]):
        """``"created"``, ``"updated"`` or the row's messages by input name."""
        values, problems = _cell_values(self.mapped, cells, self.lookup, self.names)
        if problems:
            return problems
        try:
            record = None
            if self.key_index is not None:
                key_text = cells[self.key_index].strip() if self.key_index < len(cells) else ""
                if key_text:
                    record = _matching_record(self.res, self.actor, self.match_key, key_text, self.fields)
            # submit saves in a savepoint of its own: a refused row leaves nothing behind
            submit(
                self.res,
                self.actor,
                self.mapped_fields,
                lambda name: _text(values.get(name)),
                lambda name: list(values.get(name) or []) if isinstance(values.get(name), list) else [],
                record=record,
            )
            return "updated" if record is not None else "created"
        except _RowError as exc:
            return exc.errors
        except FormErrors as exc:
            return exc.errors or {"_schema": [exc.message]}
        except APIError as exc:
            errors = exc.data.get("errors")
            return flatten_messages(errors) if errors else {"_schema": [exc.message]}


def _text(value):
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(value) if value else None
    return value


# --- the task --------------------------------------------------------------------------------------


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
    from ..jobs.tasks_api import visible_task

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
