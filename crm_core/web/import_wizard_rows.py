"""Reading an import file and saving its rows: the upload read into headings and numbered rows
(``FormErrors`` on the ``file`` input when it cannot be), each row's cells turned into form
values (choice spellings, names of referenced records, dates), the record a row updates found
by its match key, and every row saved through the form's path in chunks, with a report.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from marshmallow import ValidationError

from .. import custom
from ..db import write_transaction
from ..entities.schemas import normalize_phone
from ..errors import APIError
from ..transfer import headers as headings
from ..transfer import tabular
from ..transfer.customer_columns import VALUE_ALIASES
from .forms import FormErrors, flatten_messages, submit
from .import_wizard_fields import ID_COLUMN, custom_defs, importable_fields
from .lookup import search
from .registry import VALUE_LABELS, FormField, WebResource

MAX_IMPORT_ROWS = 20_000
CHUNK = 50  # rows per transaction: progress shows and other writers get their turn
MAX_REPORTED_ERRORS = 2000
TAG_SEPARATORS = ("，", ";", "；", "|", "、")
_DATE = re.compile(r"\d{4}[/.]\d{1,2}[/.]\d{1,2}")


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

        defs = custom_defs(res)
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
        column = custom.custom_expression(model, f.key) if f.custom else getattr(model, f.name)
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
    if f.custom:
        fd = custom_defs(res).get(f.key)
        if getattr(fd, "type", "") != "phone":
            return text.strip().lower()

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
