"""The segment editor: a visual filter builder with the live count of matching customers.

A segment stores the customer list's query parameters (``crm_core.api.segments``): a flat
dict ``{"lifecycle_stage": "vip", "credit_score__gte": "500", "tag": ["vip", "kol"]}`` whose
entries are AND-ed; a list under a plain field means "any of" (``tag``: "all of", while
``tag=a,b`` means "any of"). The builder edits exactly that: one row per entry, the "is any of"
operator for OR within a field. Rows are read back from a stored segment faithfully, and what
the actor may not see (a field hidden from them) is never offered: such an entry is kept as it
is and said so.

Routes: ``/segments/new`` and ``/segments/<id>/edit`` (registered as the editor of
``segments``, so ``/records/segments/new|edit`` lead here) and ``POST /segments/count``, which
counts the customers the rows match within the actor's read scope (JSON).
"""

from __future__ import annotations

import re

from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import permissions
from ..api.segments import customers_query
from ..entities.models import Customer, Segment
from ..errors import APIError
from ..records import listing
from .blueprint import bp
from .builder_fields import LIST_OPERATORS, OPERATOR_LABELS, BuilderField, segment_fields, split_list
from .editors import register_editor
from .formatting import utc_from_input
from .forms import FormErrors, load, save
from .registry import get_resource
from .session import login_required

ROW_RE = re.compile(r"^f-(\d+)-field$")
#: list-API operators a stored key may end in (``credit_score__gte``)
SUFFIXES = ("gte", "gt", "lte", "lt", "ne", "in", "contains")


def rows_from_filters(filters: dict, catalogue: dict[str, BuilderField]) -> tuple[list[dict], dict]:
    """A stored ``filters`` dict as builder rows, plus the entries no offered field can show
    (kept unchanged on save)."""
    rows, kept = [], {}
    for key, value in (filters or {}).items():
        name, op = key, None
        if "__" in key and key.rpartition("__")[2] in SUFFIXES:
            name, _sep, op = key.rpartition("__")
        field = catalogue.get(name)
        values = value if isinstance(value, list) else [value]
        values = ["" if v is None else (str(v).lower() if isinstance(v, bool) else str(v)) for v in values]
        if field is None:
            kept[key] = value
            continue
        if field.widget == "tags":
            if len(values) == 1 and "," in values[0]:
                rows.append({"field": name, "op": "tag_any", "values": split_list(values[0])})
            else:
                rows.append({"field": name, "op": "tag_all", "values": values})
            continue
        if op is None:
            op = "in" if len(values) > 1 else ("contains" if field.widget == "search" else "eq")
        elif op == "in":
            values = [part for v in values for part in v.split(",") if part != ""]
        if op not in field.operator_names:
            kept[key] = value
            continue
        rows.append({"field": name, "op": op, "values": values})
    for i, row in enumerate(rows):
        row["index"] = i
    return rows, kept


def rows_from_form(form) -> list[dict]:
    """The rows a posted builder carries, in the order they were shown."""
    indices = sorted({int(m.group(1)) for key in form if (m := ROW_RE.match(key))})
    rows = []
    for i in indices:
        field = form.get(f"f-{i}-field", "").strip()
        if not field:
            continue  # a row left blank
        values = [v.strip() for v in form.getlist(f"f-{i}-value") if v.strip()]
        rows.append({"index": i, "field": field, "op": form.get(f"f-{i}-op", ""), "values": values})
    return rows


def filters_from_rows(rows: list[dict], catalogue: dict[str, BuilderField], actor) -> tuple[dict, dict]:
    """``(filters, errors)``: the rows as a segment's ``filters``, each value checked against its
    field's type (errors keyed by the row's inputs, in the user's language)."""
    resolver = listing.Fields(Customer, "customers", view=permissions.view(actor, "customers", "read"))
    filters: dict = {}
    errors: dict[str, list[str]] = {}
    for row in rows:
        i, field = row["index"], catalogue.get(row["field"])
        if field is None:
            errors[f"f-{i}-field"] = [_("You cannot filter on this field.")]
            continue
        op = row["op"]
        if op not in field.operator_names:
            errors[f"f-{i}-op"] = [_("Choose an operator.")]
            continue
        values = row["values"]
        if field.widget in ("tags",) or (
            op in LIST_OPERATORS and field.widget not in ("select", "multiselect")
        ):
            values = [part for v in values for part in split_list(v)]
        if not values:
            errors[f"f-{i}-value"] = [_("Give a value.")]
            continue
        if op not in LIST_OPERATORS and len(values) > 1:
            values = values[:1]
        if field.widget == "datetime":  # typed in the user's time zone; stored times are UTC
            values = [utc_from_input(v) for v in values]
        if field.widget in ("select", "multiselect") and field.choices:
            known = {v for v, _label in field.choices}
            unknown = [v for v in values if v not in known]
            if unknown:
                errors[f"f-{i}-value"] = [_("Not one of the choices: %(values)s.", values=", ".join(unknown))]
                continue
        if field.widget not in ("tags", "search"):
            _expr, coerce = resolver.resolve(field.name)
            try:
                for value in values:
                    coerce(value)
            except (ValueError, TypeError, ArithmeticError, APIError):
                errors[f"f-{i}-value"] = [_("Not a valid value for %(field)s.", field=field.label)]
                continue
        if field.widget == "tags":
            key, stored = "tag", (",".join(values) if op == "tag_any" else values)
        elif op == "in":
            key, stored = field.name, values
        elif op == "eq" or field.widget == "search":
            key, stored = field.name, values[0]
        else:
            key, stored = f"{field.name}__{op}", values[0]
        if isinstance(stored, list) and len(stored) == 1:
            stored = stored[0]
        if field.widget == "bool" and isinstance(stored, str):
            stored = stored == "true"
        if key in filters:
            errors[f"f-{i}-field"] = [
                _("This field already has a condition of this kind; combine them into one row.")
            ]
            continue
        filters[key] = stored
    return filters, errors


def count_matching(filters: dict, actor) -> int:
    """How many customers ``actor`` may read match ``filters`` (the segment's own query, through
    the permission view)."""
    query, _total = customers_query(Segment(filters=filters), actor, paginate=False)
    return query.order_by().count()


def _catalogue(actor) -> dict[str, BuilderField]:
    return {f.name: f for f in segment_fields(actor)}


def _render(res, actor, record, values: dict, rows, kept, errors, message, status=200):
    fields = list(_catalogue(actor).values())
    return render_template(
        "crm/builders/segment_form.html",
        res=res,
        record=record,
        values=values,
        rows=rows,
        kept=kept,
        errors=errors,
        message=message,
        fields=fields,
        catalogue={f.name: f for f in fields},
        next_index=max([r["index"] for r in rows], default=-1) + 1,
    ), status


def _submit(res, actor, record):
    """Validate and save the posted segment; returns a response."""
    catalogue = _catalogue(actor)
    rows = rows_from_form(request.form)
    filters, errors = filters_from_rows(rows, catalogue, actor)
    kept = {}
    if record is not None:
        _rows, kept = rows_from_filters(record.filters or {}, catalogue)
    values = {k: request.form.get(k, "") for k in ("name", "description")}
    data = {
        "name": values["name"].strip(),
        "description": values["description"].strip(),
        "filters": {**kept, **filters},
    }
    message = _("Please correct the marked fields.")
    if not errors:
        try:
            saved = save(res, actor, load(res, data, partial=record is not None), record)
        except FormErrors as exc:
            errors, message = exc.errors, exc.message or message
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("web.record_detail", resource="segments", record_id=saved.id))
    return _render(res, actor, record, values, rows, kept, errors, message, 422)


@bp.route("/segments/new", methods=["GET", "POST"])
@login_required
def segment_new():
    """Build a new segment from filter rows."""
    actor = g.actor
    res = get_resource("segments")
    permissions.require(actor, "segments", "create")
    if request.method == "POST":
        return _submit(res, actor, None)
    rows = [{"index": 0, "field": "", "op": "", "values": []}]
    return _render(res, actor, None, {"name": "", "description": ""}, rows, {}, {}, None)


@bp.route("/segments/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def segment_edit(record_id):
    """Edit a segment: its stored filters loaded as rows."""
    actor = g.actor
    res = get_resource("segments")
    record = res.crud.get(record_id, actor, "update")
    if request.method == "POST":
        return _submit(res, actor, record)
    rows, kept = rows_from_filters(record.filters or {}, _catalogue(actor))
    values = {"name": record.name, "description": record.description or ""}
    return _render(res, actor, record, values, rows, kept, {}, None)


@bp.route("/segments/count", methods=["POST"])
@login_required
def segment_count():
    """The live count of the posted rows: ``{"count", "text"}``, or ``{"errors", "text"}`` (422)
    when a row is not valid yet. Counts only customers the actor may read."""
    actor = g.actor
    filters, errors = filters_from_rows(rows_from_form(request.form), _catalogue(actor), actor)
    if not errors:
        try:
            count = count_matching(filters, actor)
        except APIError as exc:
            if exc.code != 400:
                raise
            errors = {"filters": [_("These conditions cannot be counted.")]}
    if errors:
        return jsonify(errors=errors, text=_("Complete the conditions to see how many customers match.")), 422
    return jsonify(count=count, text=ngettext("%(num)s customer matches", "%(num)s customers match", count))


def describe_filters(filters: dict, actor) -> dict:
    """What a segment's page says of its filters: each row as a sentence in the user's language
    (field, operator and choice labels), how many entries the actor cannot see, and the count
    of matching customers the actor may read (None when it cannot be counted)."""
    try:
        catalogue = _catalogue(actor)
    except APIError as exc:
        if exc.code != 403:
            raise
        catalogue = {}  # may read segments but not customers: no field to name, nothing to count
    rows, kept = rows_from_filters(filters or {}, catalogue)
    sentences = []
    for row in rows:
        field = catalogue[row["field"]]
        values = ", ".join(field.choice_label(v) for v in row["values"])
        sentences.append(f"{field.label} {OPERATOR_LABELS[row['op']]} {values}")
    try:
        count = count_matching(filters or {}, actor)
    except APIError as exc:
        if exc.code not in (400, 403):
            raise
        count = None
    return {"rows": sentences, "kept": len(kept), "count": count}


@bp.app_template_global("segment_summary")
def _segment_summary_global(filters: dict) -> dict:
    return describe_filters(filters, g.actor)


register_editor("segments", new="web.segment_new", edit="web.segment_edit")
