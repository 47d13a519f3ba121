"""Customer import (CSV or XLSX, up to 100,000 rows) and export (CSV or XLSX, the list's filters).

Import reads the file with ``records.tabular`` (tablib for CSV, openpyxl for XLSX; a CSV is
UTF-8 with or without BOM, else GB18030 as Excel on Chinese Windows writes it, unless the form
field ``encoding`` names another), maps the header row to fields (English names,
``custom.<name>``, the workbench labels in either language such as 名称, or the usual Chinese
headers 姓名, 手机, 邮箱...), validates every row with the same schema and custom-field rules as the API, checks phone
and e-mail uniqueness within the file and against the database, and inserts in bulk. ``mode``
chooses all-or-nothing (any bad row: 422, nothing imported) or valid-rows-only. Each inserted row is
still reported, one change per row, through ``changes.records_written`` (``crm_records_written``:
one multi-row insert of audit entries and one of events per chunk). The columns and the heading and value
aliases are :mod:`crm_core.transfer.customer_columns`.

Export writes the columns an import reads back, so export then import into an empty database gives
the same customers. Hidden fields (field rules) are left out; rows follow the export row scope.
"""

from __future__ import annotations

import peewee as pw
import tablib
from flask import Response, current_app
from flask_babel import gettext as _
from marshmallow import ValidationError

from .. import audit, custom, permissions
from ..bulk import insert_rows
from ..changes import change_of, records_written
from ..db import on_primary, reading_replica, utcnow, write_transaction
from ..entities import customers
from ..entities.models import Customer, CustomerTag
from ..entities.schemas import CustomerSchema
from ..entities.tags import tag_ids
from ..errors import APIError
from ..jobs import tasks
from ..records import listing, service
from .customer_columns import (
    EXPORT_COLUMNS,
    map_headers,
    row_dict,
)
from .tabular import (
    cell_text,
    check_format,
    check_mode,
    download,
    read_table,
)

MAX_ROWS = 100_000
MAX_REPORTED_ERRORS = 1000
CHUNK = 1000


# --- import -------------------------------------------------------------------------------------


def _errors_of(exc: APIError) -> dict:
    return exc.data.get("errors") or {"_schema": [exc.message]}


def import_customers(
    data: bytes, filename: str, mode: str, actor, progress=None, encoding: str | None = None
) -> dict:
    """Validate and import a customer file as ``actor``; returns the report (see module docs).
    ``encoding``: the CSV's, when the caller named it (else UTF-8, else GB18030).

    ``progress(done, total, phase)`` (a task's) is told how far validation and insertion got;
    with it, rows are inserted in transactions of ``CHUNK`` rows (each with its audit entries,
    events and the progress), so other writers are not held up for the whole file.
    """
    check_mode(mode)
    permissions.require(actor, "customers", "create")
    definitions = {d.name: d for d in custom.custom_fields("customers")}
    if progress is not None:
        progress(0, None, "reading")
    headers, rows = read_table(data, filename, encoding)
    fields, ignored = map_headers(headers, definitions.values())
    writable = {f: None for f in fields if f and not f.startswith("custom.")}
    custom_written = {f[7:]: None for f in fields if f and f.startswith("custom.")}
    if custom_written:
        writable["custom"] = custom_written
    permissions.check_writable(actor, "customers", writable)
    if progress is not None:
        rows = list(rows)
        if len(rows) > MAX_ROWS:
            raise APIError(
                413,
                f"Too many rows: at most {MAX_ROWS:,} per import.",
                errors={"file": [f"Over {MAX_ROWS} rows."]},
            )
        progress(0, len(rows), "validating")

    schema = CustomerSchema()
    valid: list[tuple[int, dict]] = []
    errors: list[dict] = []
    seen: dict[tuple[str, str], int] = {}
    no_custom: dict | APIError | None = None
    total = 0
    for number, cells in enumerate(rows, start=2):  # row 1 is the header, as a spreadsheet shows it
        if progress is not None and number % CHUNK == 0:
            progress(number - 1)
        if not any(cells):
            continue
        total += 1
        if total > MAX_ROWS:
            raise APIError(
                413,
                f"Too many rows: at most {MAX_ROWS:,} per import.",
                errors={"file": [f"Over {MAX_ROWS} rows."]},
            )
        raw = row_dict(fields, cells)
        try:
            service.reject_nul(raw)
        except APIError as exc:
            errors.append({"row": number, "errors": _errors_of(exc)})
            continue
        try:
            item = schema.load({k: v for k, v in raw.items() if k != "custom"})
        except ValidationError as exc:
            errors.append({"row": number, "errors": exc.messages})
            continue
        try:
            if raw.get("custom"):
                item["custom"] = custom.validate_custom("customers", raw["custom"], partial=False)
            else:  # rows without custom values all validate alike (defaults, required fields): once
                if no_custom is None:
                    try:
                        no_custom = custom.validate_custom("customers", {}, partial=False)
                    except APIError as exc:
                        no_custom = exc
                if isinstance(no_custom, APIError):
                    raise no_custom
                item["custom"] = dict(no_custom)
        except APIError as exc:
            errors.append({"row": number, "errors": _errors_of(exc)})
            continue
        problems = {}
        for name in customers.UNIQUE_FIELDS:
            value = item.get(name)
            if value is None:
                continue
            first = seen.setdefault((name, value), number)
            if first != number:
                problems[name] = [_("Same %(field)s as row %(row)s.", field=name, row=first)]
        if problems:
            errors.append({"row": number, "errors": problems})
            continue
        valid.append((number, item))

    if progress is not None:
        progress(len(rows), len(rows), "checking")
    _check_existing(valid, errors, actor)
    _check_assignment(valid, errors, actor)
    errors.sort(key=lambda e: e["row"])
    report = {
        "mode": mode,
        "total_rows": total,
        "imported": 0,
        "failed": len(errors),
        "ignored_columns": ignored,
        "errors": errors[:MAX_REPORTED_ERRORS],
        "errors_truncated": len(errors) > MAX_REPORTED_ERRORS,
    }
    if errors and mode == "all_or_nothing":
        flat = {f"row {e['row']}": e["errors"] for e in errors[:MAX_REPORTED_ERRORS]}
        raise APIError(
            422,
            f"{len(errors)} of {total} rows are invalid; nothing was imported.",
            errors=flat,
            report=report,
        )
    report["imported"] = _insert(valid, actor, progress)
    return report


def _check_existing(valid: list[tuple[int, dict]], errors: list[dict], actor=None) -> None:
    """Move rows whose phone or e-mail is already in the database to ``errors``; the message
    names the existing customer only when ``actor`` may read it (``permissions.view``)."""

    view = permissions.view(actor, "customers") if actor is not None else None
    bad: dict[int, dict] = {}
    for name in customers.UNIQUE_FIELDS:
        column = getattr(Customer, name)
        values = [item[name] for _, item in valid if item.get(name) is not None]
        existing: dict[str, int] = {}
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            existing.update(Customer.select(column, Customer.id).where(column.in_(chunk)).tuples())
        readable = view.readable_ids(Customer, existing.values()) if view is not None else set()
        for number, item in valid:
            if item.get(name) in existing:
                found = existing[item[name]]
                message = (
                    _("Already used by customer %(id)s.", id=found)
                    if found in readable
                    else _("Already used.")
                )
                bad.setdefault(number, {})[name] = [message]
    if bad:
        errors.extend({"row": n, "errors": e} for n, e in bad.items())
        valid[:] = [(n, item) for n, item in valid if n not in bad]


def _check_assignment(valid: list[tuple[int, dict]], errors: list[dict], actor) -> None:
    """Rows placed outside the actor's scope (owner/department) become errors, checked once per pair."""

    verdicts: dict[tuple, str | None] = {}
    kept = []
    for number, item in valid:
        item.setdefault("owner_id", actor.id)
        pair = (item["owner_id"], item.get("department_id", permissions.OWNER_DEPARTMENT))
        if pair not in verdicts:
            try:
                verdicts[pair] = permissions.place(actor, "customers", "create", *pair)
            except APIError as exc:
                verdicts[pair] = exc
        verdict = verdicts[pair]
        if isinstance(verdict, APIError):
            field_errors = verdict.data.get("errors") or {"owner_id": [verdict.message]}
            errors.append({"row": number, "errors": field_errors})
        else:
            item["owner_id"], item["department_id"] = verdict
            kept.append((number, item))
    valid[:] = kept


def _insert(valid: list[tuple[int, dict]], actor, progress=None) -> int:
    """Bulk-insert the rows (chunks of ``CHUNK``), link tags, and report each row as written: in
    one transaction, or with ``progress`` one per chunk (the rows were all validated first, so
    only a database failure can stop it half-way: the error then says how many went in)."""
    if progress is None:
        with write_transaction():
            _insert_chunks(valid, actor)
        return len(valid)
    progress(0, len(valid), "importing")
    done = 0
    for start in range(0, len(valid), CHUNK):
        try:
            with write_transaction():
                _insert_chunks(valid[start : start + CHUNK], actor)
                done = min(len(valid), start + CHUNK)
                progress(done)
        except Exception as exc:
            raise APIError(
                503 if isinstance(exc, pw.OperationalError) else 500,
                f"The import stopped after {done} of {len(valid)} valid rows were imported "
                f"({type(exc).__name__}); import the remaining rows again.",
                imported=done,
            ) from exc
    return len(valid)


def _insert_chunks(valid: list[tuple[int, dict]], actor) -> None:
    columns = [f for f in Customer._meta.fields if f not in ("id",)]
    for start in range(0, len(valid), CHUNK):
        chunk = [item for _, item in valid[start : start + CHUNK]]
        now = utcnow()
        rows = []
        for item in chunk:
            row = {c: item.get(c) for c in columns}
            row["lifecycle_stage"] = row["lifecycle_stage"] or "lead"
            row["custom"] = row["custom"] or {}
            row["created_at"] = row["updated_at"] = now
            rows.append(row)
        ids = insert_rows(Customer, columns, [tuple(row[c] for c in columns) for row in rows])
        links = []
        names = sorted({t for item in chunk for t in item.get("tags") or []})
        by_name = dict(zip(names, tag_ids(names), strict=True)) if names else {}
        written = []
        for record_id, item, row in zip(ids, chunk, rows, strict=True):
            tags = sorted(set(item.get("tags") or []))
            links.extend({"customer": record_id, "tag": by_name[t]} for t in tags)
            after = {**service.to_json(row), "id": record_id, "tags": tags}
            written.append(
                change_of("create", "customers", None, actor, None, after, {"source": "import"}, record_id)
            )
        # one audit entry and one event per customer, each kind in one multi-row insert
        records_written(written)
        if links:
            CustomerTag.insert_many(links).execute()


# --- export -------------------------------------------------------------------------------------


def _export_query(args, actor):
    query, _ = listing.list_query(
        Customer,
        "customers",
        args,
        actor,
        action="export",
        search_fields=customers.search_fields(),
        extra_filters=customers.EXTRA_FILTERS,
        ignore=("format",),
        paginate=False,
    )
    return query


def export_customers(args, actor, fmt: str, progress=None) -> Response:
    """The customers the list filters select (export scope), as a CSV or XLSX download."""
    check_format(fmt)
    with reading_replica():  # the rows may be a few seconds old; the audit entry is written after
        dataset = _export_dataset(args, actor, on_primary(progress))
    audit.record_event(
        actor, "export", "customers", extra={"filter": args, "rows": len(dataset), "format": fmt}
    )
    response = download(dataset, fmt, "customers")
    response.crm_rows = dataset.height
    return response


def _export_dataset(args, actor, progress) -> tablib.Dataset:
    query = _export_query(args, actor)
    if progress is not None:
        progress(0, query.count(), "exporting")
    view = permissions.view(actor, "customers", "export")
    custom_names = [d.name for d in custom.custom_fields("customers") if view.visible(d.name)]
    headers = [c for c in EXPORT_COLUMNS if view.visible(c)] + [f"custom.{n}" for n in custom_names]
    dataset = tablib.Dataset(headers=headers)
    batch: list[Customer] = []

    def flush():
        customers.prefetch_tags(batch)
        for c in batch:
            # through the read decision, as every read path: masked values are shown partly
            values = view.dump({**service.record_dict(c), "tags": ",".join(c.tags), "custom": c.custom or {}})
            row = [cell_text(values.get(h)) for h in headers if not h.startswith("custom.")]
            row += [cell_text((values.get("custom") or {}).get(n)) for n in custom_names]
            dataset.append(row)
        batch.clear()
        if progress is not None:
            progress(dataset.height)

    for record in query.iterator():
        batch.append(record)
        if len(batch) >= CHUNK:
            flush()
    flush()
    return dataset


def export_or_task(args, actor, fmt: str):
    """The export as a download, or, when it has more than ``EXPORT_TASK_ROWS`` rows, a queued
    ``customers.export`` task (a ``Task``) whose file is the download."""

    check_format(fmt)
    count = _export_query(args, actor).count()  # 400 for bad filters, 403 without export
    if count <= current_app.config["EXPORT_TASK_ROWS"]:
        return export_customers(args, actor, fmt)
    pairs = (
        list(args.items(multi=True))
        if hasattr(args, "items") and hasattr(args, "getlist")
        else list(args.items())
    )
    return tasks.queue("customers.export", actor, {"args": pairs, "format": fmt})


# --- tasks --------------------------------------------------------------------------------------


def import_task(ctx) -> dict:
    """The ``customers.import`` task: the import report (an invalid file fails the task with the
    error the synchronous import answered)."""
    return import_customers(
        ctx.input_data,
        ctx.input_name or "upload.csv",
        ctx.params.get("mode", "all_or_nothing"),
        ctx.actor,
        ctx.progress,
        ctx.params.get("encoding") or None,
    )


def export_task(ctx) -> dict:
    """The ``customers.export`` task: the export file, attached to the task."""
    from werkzeug.datastructures import MultiDict

    args = MultiDict([tuple(pair) for pair in ctx.params.get("args") or []])
    response = export_customers(args, ctx.actor, ctx.params.get("format", "csv"), ctx.progress)
    disposition = response.headers["Content-Disposition"]
    name = disposition.split('filename="', 1)[1].rstrip('"')
    ctx.attach(name, response.mimetype, response.get_data())
    return {"rows": response.crm_rows, "format": ctx.params.get("format", "csv"), "file": name}
