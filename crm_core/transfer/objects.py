"""Import and export of custom object records (CSV or XLSX), in the same shapes as the customer
import/export: columns ``name``, ``owner_id``, ``department_id`` and one per custom field (plain
name or ``custom.<name>``, or its English or Chinese label); the report and the
``all_or_nothing`` / ``valid_only`` modes are the same.

Files are read by ``records.tabular.read_table`` (tablib/openpyxl; a CSV is UTF-8, with or
without BOM, else GB18030, unless the caller names its encoding). Every
row goes through the one write path (``records.service.create``) in its own savepoint, so
permissions, custom-field validation, uniqueness, audit and events apply row by row; with
``all_or_nothing`` any bad row rolls the whole file back.

``/api/v1/objects/<type>/import`` runs it as a ``records.import`` task (``crm_core.transfer.tasks``)
and an export of more than ``EXPORT_TASK_ROWS`` rows as a ``records.export`` task with a file.
"""

from __future__ import annotations

import json

import tablib
from flask import Response
from flask_babel import gettext as _
from marshmallow import ValidationError

from .. import audit, permissions
from ..custom.fielddefs import FieldDef, custom_fields
from ..db import database, on_primary, reading_replica
from ..errors import APIError
from ..records import listing, service
from ..transfer import headers as headers_
from .tabular import cell_text, check_format, check_mode, download, read_table

MAX_ROWS = 100_000
MAX_REPORTED_ERRORS = 1000
CHUNK = 1000
CORE_COLUMNS = ("name", "owner_id", "department_id")
EXPORT_COLUMNS = ("id", "name", "owner_id", "department_id", "created_at", "updated_at")
NAME_ALIASES = set(headers_.NAME_ALIASES)


class _Rollback(Exception):
    """Raised to undo an all-or-nothing import that had bad rows."""


def map_headers(headers: list[str], defs: list[FieldDef]) -> tuple[list[str | None], list[str]]:
    """The target of each column (``name``, ``owner_id``, ``custom.level``... or None) and the
    headers that match nothing. Besides the names, a heading may be the workbench label of a
    core column in either language (``名称``, ``负责人``) or of a custom field."""
    core_labels = headers_.label_aliases(CORE_COLUMNS)
    by_label = {}
    for fd in defs:
        for label in fd.label.values():
            if label:
                by_label.setdefault(label.strip().lower(), fd.name)
    names = {fd.name for fd in defs}
    targets, ignored = [], []
    for header in headers:
        key = header.strip().lstrip("\ufeff").rstrip("*").strip()
        norm = key.lower()
        target = None
        if norm in CORE_COLUMNS:
            target = norm
        elif norm in NAME_ALIASES:
            target = "name"
        elif norm.startswith("custom.") and norm[7:] in names:
            target = norm
        elif norm in names:
            target = "custom." + norm
        elif norm in by_label:
            target = "custom." + by_label[norm]
        elif headers_.normalise(key) in core_labels:
            target = core_labels[headers_.normalise(key)]
        elif key and norm not in ("id", "created_at", "updated_at", "type"):
            ignored.append(header)
        targets.append(target)
    return targets, ignored


def _cell(fd: FieldDef | None, text: str):
    if fd is not None and fd.type == "multi-choice":
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                return text
        return [part.strip() for part in text.replace("，", ",").split(",") if part.strip()]
    return text


def import_records(
    resource: str,
    model,
    schema,
    data: bytes,
    filename: str,
    mode: str,
    actor,
    progress=None,
    encoding: str | None = None,
) -> dict:
    """Import a file of records of a custom object type as ``actor``; returns the report.
    ``encoding``: the CSV's, when the caller named it (else UTF-8, else GB18030).

    ``progress(done, total, phase)`` (a task's) is told how many rows were processed, every
    ``CHUNK`` rows; with it, ``valid_only`` commits each chunk (its progress with it) so other
    writers are not held up for the whole file. ``all_or_nothing`` stays one transaction (its
    progress shows once it ends)."""
    check_mode(mode)
    permissions.require(actor, resource, "create")
    defs = custom_fields(resource)
    by_name = {fd.name: fd for fd in defs}
    if progress is not None:
        progress(0, None, "reading")
    headers, rows = read_table(data, filename, encoding)
    targets, ignored = map_headers(headers, defs)
    if not any(targets):
        # e.g. a mis-detected encoding: importing rows of nothing would only create blanks
        raise APIError(
            400,
            _("No column of the file matches a field (name, owner_id, department_id or a custom field)."),
            errors={"file": [_("Unknown columns: %(names)s.", names=", ".join(ignored) or "-")]},
        )
    numbered: list[tuple[int, list[str]]] = []
    for number, cells in enumerate(rows, start=2):  # row 1 is the header
        if not any(cells):
            continue
        if len(numbered) >= MAX_ROWS:
            raise APIError(413, f"Too many rows: at most {MAX_ROWS:,} per import.")
        numbered.append((number, cells))
    total = len(numbered)
    errors: list[dict] = []
    imported = 0

    def run(chunk) -> None:
        nonlocal imported
        for number, cells in chunk:
            raw: dict = {}
            for target, text in zip(targets, cells, strict=False):
                if target is None or text == "":
                    continue
                if target.startswith("custom."):
                    raw.setdefault("custom", {})[target[7:]] = _cell(by_name.get(target[7:]), text)
                else:
                    raw[target] = text
            try:
                item = schema.load(raw)
                with database.atomic():
                    service.create(resource, model, item, actor)
                imported += 1
            except ValidationError as exc:
                errors.append({"row": number, "errors": exc.messages})
            except APIError as exc:
                errors.append({"row": number, "errors": exc.data.get("errors") or {"_schema": [exc.message]}})

    chunks = [numbered[start : start + CHUNK] for start in range(0, total, CHUNK)]
    if progress is not None:
        progress(0, total, "importing")
    try:
        if progress is None or mode == "all_or_nothing":
            with database.atomic():
                for chunk in chunks:
                    run(chunk)
                if errors and mode == "all_or_nothing":
                    raise _Rollback
                if progress is not None:
                    progress(total)
        else:
            done = 0
            for chunk in chunks:
                with database.atomic():
                    run(chunk)
                    done += len(chunk)
                    progress(done)
    except _Rollback:
        flat = {f"row {e['row']}": e["errors"] for e in errors[:MAX_REPORTED_ERRORS]}
        raise APIError(
            422,
            f"{len(errors)} of {total} rows are invalid; nothing was imported.",
            errors=flat,
            report=_report(mode, total, 0, errors, ignored),
        ) from None
    return _report(mode, total, imported, errors, ignored)


def _report(mode, total, imported, errors, ignored) -> dict:
    return {
        "mode": mode,
        "total_rows": total,
        "imported": imported,
        "failed": len(errors),
        "ignored_columns": ignored,
        "errors": errors[:MAX_REPORTED_ERRORS],
        "errors_truncated": len(errors) > MAX_REPORTED_ERRORS,
    }


def _export_query(resource: str, model, args, actor, search_fields=None):
    query, _ = listing.list_query(
        model,
        resource,
        args,
        actor,
        action="export",
        search_fields=search_fields,
        ignore=("format",),
        paginate=False,
    )
    return query


def export_records(
    resource: str, model, args, actor, fmt: str, search_fields=None, progress=None
) -> Response:
    """The records the list filters select (export scope, hidden fields left out) as CSV/XLSX,
    audited as ``export``; ``progress(done, total, phase)`` (a task's) hears how far it got."""
    check_format(fmt)
    with reading_replica():  # the rows may be a few seconds old; the audit entry is written after
        dataset = _export_dataset(resource, model, args, actor, search_fields, on_primary(progress))
    audit.record_event(
        actor, "export", resource, extra={"filter": args, "rows": dataset.height, "format": fmt}
    )
    response = download(dataset, fmt, resource.replace(".", "-"))
    response.crm_rows = dataset.height
    return response


def _export_dataset(resource: str, model, args, actor, search_fields, progress) -> tablib.Dataset:
    query = _export_query(resource, model, args, actor, search_fields)
    if progress is not None:
        progress(0, query.count(), "exporting")
    view = permissions.view(actor, resource, "export")
    names = [fd.name for fd in custom_fields(resource) if view.visible(fd.name)]
    columns = [c for c in EXPORT_COLUMNS if view.visible(c)]
    dataset = tablib.Dataset(headers=columns + [f"custom.{n}" for n in names])
    for record in query.iterator():
        # through the read decision, as every read path: masked values are shown partly
        values = view.dump({**service.record_dict(record), "custom": record.custom or {}})
        custom = values.get("custom") or {}
        dataset.append(
            [cell_text(values.get(c)) for c in columns] + [cell_text(custom.get(n)) for n in names]
        )
        if progress is not None and dataset.height % CHUNK == 0:
            progress(dataset.height)
    if progress is not None:
        progress(dataset.height)
    return dataset


def export_count(resource: str, model, args, actor, fmt: str, search_fields=None) -> int:
    """How many rows the export would have (400 for bad filters or format, 403 without export)."""
    check_format(fmt)
    return _export_query(resource, model, args, actor, search_fields).count()
