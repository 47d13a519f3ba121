"""Spreadsheet files in and out: one place for CSV/XLSX reading, cell text and downloads.

Used by the customer importer/exporter, custom-object import/export and the workbench's
import/export pages, so that every file the CRM reads or writes follows the same rules:

- ``decode_csv(data, encoding)``: the rules of :mod:`crm_core.transfer.decoding` (a BOM, else
  the encoding the caller chose, else UTF-8, else GB18030: never a guess, which read small GBK
  files as cp1251);
- ``read_table(data, filename, encoding)``: header row and text rows of a CSV or XLSX file (400
  in the caller's language when empty, undecodable or unreadable);
- ``cell_text(value)``: a stored value as an export cell;
- ``check_format(fmt)`` and ``download(dataset, fmt, basename)``: a CSV (with BOM, so Excel reads
  Chinese correctly) or XLSX attachment named ``<basename>-<timestamp>.<fmt>``, formulas
  neutralised as OWASP recommends (``'`` before ``= + - @``, tab, CR in CSV; XLSX text cells are
  strings, never formulas); CSV imports drop that ``'`` again;
- ``import_upload()``, ``check_mode(mode)`` and ``IMPORT_REQUEST_BODY``: the file and mode of an
  import request, as every import endpoint reads and documents them.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import re
from collections.abc import Iterator

import openpyxl
import tablib
from flask import Response, request
from flask_babel import gettext as _
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from ..db import utcnow
from ..errors import APIError
from ..records import service
from . import decoding

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

#: The ``sync`` query parameter of every import endpoint (OpenAPI).
SYNC_PARAMETER = {
    "in": "query",
    "name": "sync",
    "schema": {"type": "boolean", "default": False},
    "description": "answer with the report (200) when the file has at most "
    "IMPORT_SYNC_MAX_ROWS rows; larger files are queued as without it",
}


def decode_csv(data: bytes, encoding: str | None = None) -> str:
    """Text of a CSV file by the rules of :mod:`crm_core.transfer.decoding`: a BOM, else the
    chosen ``encoding``, else UTF-8, else GB18030; 400 (in the caller's language) otherwise."""
    try:
        text, _name = decoding.decode(data, encoding)
    except decoding.EncodingProblem as exc:
        raise APIError(400, exc.message, errors={"file": [exc.message]}) from None
    return text


def _read_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores phone numbers typed as numbers as floats
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def is_xlsx(data: bytes, filename: str) -> bool:
    """True when the upload is an Excel workbook (by name, or by its ZIP signature)."""
    return filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04"


def _unreadable(message: str) -> APIError:
    return APIError(400, message, errors={"file": [message]})


def read_table(
    data: bytes, filename: str, encoding: str | None = None
) -> tuple[list[str], Iterator[list[str]]]:
    """Header row and data rows (as text) of a CSV or XLSX file; ``encoding`` (CSV only) as the
    user chose it ("" or None: automatic, see :func:`decode_csv`)."""
    if not data or not data.strip():
        raise _unreadable(_("The file is empty."))
    if is_xlsx(data, filename):
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # openpyxl raises many kinds on a damaged file; all mean "not readable"
            raise _unreadable(_("The file is not a readable Excel (XLSX) workbook.")) from None
        if not book.worksheets:
            raise _unreadable(_("The workbook has no rows."))
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None or not any(_read_cell(h) for h in header):
            raise _unreadable(_("The workbook has no rows."))
        return [_read_cell(h) for h in header], ([_read_cell(c) for c in row] for row in rows)
    text = decode_csv(data, encoding)
    if not text.strip():
        raise _unreadable(_("The file is empty."))
    dataset = tablib.Dataset()
    try:
        dataset.load(text, format="csv")
    except Exception:  # tablib wraps csv errors in several types
        raise _unreadable(_("The file is not valid CSV.")) from None
    return [_unneutralise(str(h or "").strip()) for h in dataset.headers or []], (
        [_unneutralise(_read_cell(c)) for c in row] for row in dataset
    )


def cell_text(value) -> str:
    """A stored value as an export cell: empty for None, true/false, JSON for lists and dicts."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(service.to_json(value))


def check_format(fmt: str) -> None:
    """400 unless ``fmt`` is an export format we write."""
    if fmt not in MEDIA_TYPES:
        raise APIError(400, "Invalid query parameter 'format'.", errors={"format": ["csv or xlsx."]})


# --- formulas in exports (OWASP "CSV injection") ------------------------------------------------

#: a cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(value):
    """A CSV cell that no spreadsheet runs: text starting with ``=``, ``+``, ``-``, ``@``, tab or
    CR gets a leading ``'`` (plain numbers such as ``-12.5`` are left alone: never formulas)."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _unneutralise(text: str) -> str:
    """What :func:`neutralise` wrote, read back (CSV imports of our own exports round-trip)."""
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def _csv_body(dataset: tablib.Dataset) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if dataset.headers:
        writer.writerow([neutralise(h) for h in dataset.headers])
    for row in dataset:
        writer.writerow(["" if v is None else neutralise(v) for v in row])
    return "\ufeff" + out.getvalue()


def _xlsx_value(value):
    if value is None or isinstance(value, bool | int | float | decimal.Decimal | dt.date | dt.time):
        return value
    # text openpyxl refuses (control characters) would fail the whole export
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def _xlsx_body(dataset: tablib.Dataset) -> bytes:
    """The workbook, every text cell written as a string: openpyxl would store text starting
    with ``=`` as a formula."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = (dataset.title or "Sheet1")[:31]
    rows = [dataset.headers] if dataset.headers else []
    for number, row in enumerate([*rows, *dataset], start=1):
        for column, value in enumerate(row, start=1):
            cell = sheet.cell(row=number, column=column, value=_xlsx_value(value))
            if cell.data_type == "f":
                cell.data_type = "s"
    if dataset.headers:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def download(dataset: tablib.Dataset, fmt: str, basename: str) -> Response:
    """``dataset`` as a CSV (with BOM) or XLSX attachment ``<basename>-<timestamp>.<fmt>``;
    formulas neutralised (:func:`neutralise` in CSV, string cells in XLSX)."""
    check_format(fmt)
    body = _csv_body(dataset) if fmt == "csv" else _xlsx_body(dataset)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    response = Response(body, mimetype=MEDIA_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{basename}-{stamp}.{fmt}"'
    return response


# --- import requests -----------------------------------------------------------------------------

IMPORT_MODES = ("all_or_nothing", "valid_only")


def check_mode(mode: str) -> None:
    """422 unless ``mode`` is an import mode: ``all_or_nothing`` (any bad row rejects the file)
    or ``valid_only`` (the good rows go in, the report lists the rest)."""
    if mode not in IMPORT_MODES:
        raise APIError(422, "Unknown import mode.", errors={"mode": [f"One of: {', '.join(IMPORT_MODES)}."]})


# the OpenAPI body of every import endpoint: a spreadsheet file and the mode
IMPORT_REQUEST_BODY = {
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "mode": {"type": "string", "enum": list(IMPORT_MODES), "default": "all_or_nothing"},
                    "encoding": {
                        "type": "string",
                        "enum": [code for code, _label in decoding.ENCODINGS if code],
                        "description": "the CSV's text encoding; without it: UTF-8 (a BOM is "
                        "honoured), else GB18030",
                    },
                },
                "required": ["file"],
            }
        }
    }
}


def import_upload() -> tuple[bytes, str, str]:
    """The uploaded file of an import request (form field ``file``; 400 without it), its name,
    and the import mode (form or query ``mode``, default ``all_or_nothing``)."""
    upload = request.files.get("file")
    if upload is None:
        raise APIError(400, "Send the file as multipart form field 'file'.", errors={"file": ["Missing."]})
    mode = request.form.get("mode") or request.args.get("mode") or "all_or_nothing"
    return upload.read(), upload.filename or "", mode


def import_encoding() -> str:
    """The ``encoding`` (form or query) of an import request, checked ("" for automatic); 400
    when it is not one :data:`decoding.ENCODINGS` offers."""
    raw = request.form.get("encoding") or request.args.get("encoding") or ""
    try:
        return decoding.check_encoding(raw)
    except decoding.EncodingProblem as exc:
        raise APIError(400, exc.message, errors={"encoding": [exc.message]}) from None


def wants_sync() -> bool:
    """``sync=true`` (query or form): the caller of an import asks for the report in the response."""
    value = request.args.get("sync") or request.form.get("sync") or ""
    return value.strip().lower() in ("1", "true", "yes")


def small_upload(data: bytes, filename: str, encoding: str | None = None) -> bool:
    """True when the file has at most ``IMPORT_SYNC_MAX_ROWS`` data rows (an unreadable file
    counts as small: the import then answers its 400 at once)."""
    import itertools

    from flask import current_app

    limit = current_app.config["IMPORT_SYNC_MAX_ROWS"]
    try:
        _headers, rows = read_table(data, filename, encoding)
    except APIError:
        return True
    return sum(1 for _ in itertools.islice((r for r in rows if any(r)), limit + 1)) <= limit


def query_pairs(args) -> list[list[str]]:
    """The (key, value) pairs of request/list arguments (a MultiDict or a dict), as a task's
    parameters store them (JSON)."""
    if hasattr(args, "getlist"):
        return [[k, v] for k, v in args.items(multi=True)]
    return [[k, v] for k, v in dict(args).items()]


def file_of(response: Response) -> tuple[str, str, bytes]:
    """The file name, media type and body of a :func:`download` response (for a task's file)."""
    name = response.headers["Content-Disposition"].split('filename="', 1)[1].rstrip('"')
    return name, response.mimetype, response.get_data()
