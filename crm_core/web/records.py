"""Generic list / detail / create / edit / delete pages for every collection, from its metadata.

``/records/<resource>`` serves core objects (``customers``), plugin collections
(``loyalty.members``) and custom objects (``objects.course``) alike. What a user sees comes from
the permission module only: the list is ``list_query`` (row scope in SQL), a record is
``get_record`` (404 outside the scope), every dump goes through ``Crud.dump`` (hidden fields
masked), and writes go through ``crm_core.records.service``.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from .. import permissions
from ..db import database
from ..errors import APIError
from ..records import listing, service
from ..records.bulk_update import bulk_update, has_owner
from . import lookup  # the /lookup pickers and the ref_label/ref_name page globals
from .blueprint import bp
from .companies import company_context
from .customer360 import customer_context
from .editors import editor_for
from .forms import FormErrors, submit
from .messages import translate_message
from .registry import fields_for, get_resource, hidden_fields
from .session import login_required

#: Query parameters of the list page that are not list-API filters.
PAGE_PARAMS = frozenset({"format"})


def list_args(res, actor, args: MultiDict) -> MultiDict:
    """The list-API arguments of the page: blanks dropped, and nothing that names a hidden field
    (filtering or sorting on one would reveal its values)."""
    hidden = hidden_fields(res, actor)
    out = MultiDict()
    for key, value in args.items(multi=True):
        if value == "" or key in PAGE_PARAMS:
            continue
        base = key.split("__", 1)[0]
        if base in hidden:
            continue
        if key == "sort":
            terms = [t for t in value.split(",") if t.strip().lstrip("-+") not in hidden]
            if not terms:
                continue
            value = ",".join(terms)
        out.add(key, value)
    return out


#: Most columns a list shows; who owns a record and where it sits always get two of them.
LIST_COLUMNS = 12
OWNERSHIP = ("owner_id", "department_id")


def list_columns(fields) -> list:
    """The columns of a list page: the record's own short fields (no long text or JSON) up to
    ``LIST_COLUMNS``, owner and department always among them, then the creation time if room."""
    short = [f for f in fields if f.name not in ("id", "updated_at") and f.widget not in ("json", "textarea")]
    ownership = [f for f in short if f.name in OWNERSHIP]
    rest = [f for f in short if f.name not in OWNERSHIP]
    own = [f for f in rest if f.name != "created_at"][: LIST_COLUMNS - len(ownership)]
    created = [f for f in rest if f.name == "created_at"][: max(0, LIST_COLUMNS - len(own) - len(ownership))]
    return own + ownership + created


def _query_string(args: MultiDict, **changes) -> str:
    merged = MultiDict(args)
    for key, value in changes.items():
        merged.setlist(key, [value] if value not in (None, "") else [])
    return urlencode(list(merged.items(multi=True)))


def _page_data(res, actor, args):
    rows, total = listing.list_query(res.model, res.resource, args, actor, **res.list_options())
    records = res.crud.dump(list(rows), actor)
    page, page_size = listing.page_params(args)
    return records, total, page, page_size


@bp.route("/records/<resource>/")
@login_required
def record_list(resource):
    """One page of a collection with search, filters, sort, pagination, bulk tag and export."""
    actor = g.actor
    res = get_resource(resource)
    permissions.scoped(res.model.select(), actor, res.resource, "read", model=res.model)  # 403 early
    fields = fields_for(res, actor)
    args = list_args(res, actor, request.args)
    error = None
    try:
        records, total, page, page_size = _page_data(res, actor, args)
    except APIError as exc:
        if exc.code != 400:
            raise
        error = translate_message(exc.message)
        args = MultiDict({k: v for k, v in args.items() if k in ("page_size",)})
        records, total, page, page_size = _page_data(res, actor, args)
    pages = max(1, -(-total // page_size))
    shown = list_columns(fields)
    can_update = permissions.can(actor, res.resource, "update")
    lookup.prime(shown, records)
    return render_template(
        "crm/records/list.html",
        res=res,
        fields=fields,
        columns=shown,
        records=records,
        total=total,
        page=page,
        pages=pages,
        args=args,
        error=error,
        qs=lambda **changes: _query_string(args, **changes),
        can_create=permissions.can(actor, res.resource, "create"),
        can_update=can_update,
        assign_field=_assign_field(res, fields) if can_update else None,
        can_export=permissions.can(actor, res.resource, "export"),
        current_sort=args.get("sort", ""),
    )


def _assign_field(res, fields):
    """The bulk bar's "Assign to" picker: the owner field, when the records have an owner and the
    user may write it (a read-only or hidden ``owner_id`` offers none); None otherwise."""
    if not has_owner(res.crud):
        return None
    owner = next((f for f in fields if f.name == "owner_id" and f.writable and f.reference), None)
    return replace(owner, label=_("Assign to")) if owner is not None else None


@bp.route("/records/<resource>/new", methods=["GET", "POST"])
@login_required
def record_new(resource):
    """The create form; inline messages per field when the values are refused."""
    editor = editor_for(resource)
    if editor is not None:
        return redirect(url_for(editor.new, **request.args))
    actor = g.actor
    res = get_resource(resource)
    permissions.require(actor, res.resource, "create")
    fields = fields_for(res, actor, for_form=True)
    # a link may prefill the form (``/records/deals/new?customer_id=5`` from the customer page);
    # the owner starts as the user, as the service would make it, so the picker shows who
    values = MultiDict(request.args)
    owner = next((f for f in fields if f.name == "owner_id" and f.writable), None)
    if owner is not None and "owner_id" not in values and actor is not None:
        values["owner_id"] = str(actor.id)
    errors, message = {}, None
    status = 200
    if request.method == "POST":
        try:
            record = submit(
                res, actor, fields, request.form.get, request.form.getlist, hidden=hidden_fields(res, actor)
            )
        except FormErrors as exc:
            errors, message, status = exc.errors, exc.message, 422
            values = request.form
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("web.record_detail", resource=resource, record_id=record.get_id()))
    return render_template(
        "crm/records/form.html",
        res=res,
        fields=fields,
        errors=errors,
        message=message,
        values=values,
        record=None,
    ), status


@bp.route("/records/<resource>/<int:record_id>")
@login_required
def record_detail(resource, record_id):
    """One record (404 outside the read scope); customers get their 360 view."""
    actor = g.actor
    res = get_resource(resource)
    record = res.crud.get(record_id, actor)
    data = res.crud.dump(record, actor)
    fields = fields_for(res, actor)
    lookup.prime(fields, [data])
    context = {
        "res": res,
        "fields": fields,
        "data": data,
        "record": record,
        "can_update": permissions.can(actor, res.resource, "update", record),
        "can_delete": permissions.can(actor, res.resource, "delete", record),
    }
    if resource == "customers":
        context.update(customer_context(record, actor, data))
        return render_template("crm/customer360.html", **context)
    if resource == "companies":
        context.update(company_context(record, actor, data))
        return render_template("crm/companies/company.html", **context)
    if resource == "automations":
        return render_template("crm/automation.html", dry=None, dry_errors={}, result=None, **context)
    return render_template("crm/records/detail.html", **context)


@bp.route("/records/<resource>/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def record_edit(resource, record_id):
    """The edit form: read-only fields are shown as text, hidden ones are not there at all."""
    editor = editor_for(resource)
    if editor is not None:
        return redirect(url_for(editor.edit, record_id=record_id))
    actor = g.actor
    res = get_resource(resource)
    record = res.crud.get(record_id, actor, "update")
    fields = fields_for(res, actor, for_form=True)
    data = res.crud.dump(record, actor)
    errors, message, values = {}, None, {}
    status = 200
    if request.method == "POST":
        try:
            with database.atomic():
                record = submit(
                    res,
                    actor,
                    fields,
                    request.form.get,
                    request.form.getlist,
                    record=record,
                    hidden=hidden_fields(res, actor),
                )
        except FormErrors as exc:
            errors, message, status = exc.errors, exc.message, 422
            values = request.form
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("web.record_detail", resource=resource, record_id=record_id))
    return render_template(
        "crm/records/form.html",
        res=res,
        fields=fields,
        errors=errors,
        message=message,
        values=values,
        data=data,
        record=record,
    ), status


@bp.route("/records/<resource>/<int:record_id>/delete", methods=["POST"])
@login_required
def record_delete(resource, record_id):
    """Delete one record (403 when not allowed, 409 with a message when others refer to it)."""
    actor = g.actor
    res = get_resource(resource)
    record = res.crud.get(record_id, actor, "delete")
    try:
        service.delete(res.resource, record, actor, serialize=res.crud.write_options.get("serialize"))
    except APIError as exc:
        if exc.code != 409:
            raise
        flash(translate_message(exc.message), "error")
        return redirect(url_for("web.record_detail", resource=resource, record_id=record_id))
    flash(_("Deleted."), "success")
    return redirect(url_for("web.record_list", resource=resource))


def _selected_ids() -> list[int]:
    """The record ids ticked on the list page (anything but a plain id is ignored)."""
    return [int(i) for i in request.form.getlist("ids") if i.isdigit() and len(i) <= 18]


def _bulk(res, actor, **change):
    """Run one bulk change on the ticked records (``records.bulk_update``: one transaction, one
    batch of audit entries and events); the outcome, or None after flashing why the whole
    request was refused (nothing chosen, not allowed, an owner the user may not assign to)."""
    try:
        return bulk_update(res.crud, _selected_ids(), actor, **change)
    except APIError as exc:
        if exc.code not in (403, 404, 422):
            raise
        messages = [m for ms in (exc.data.get("errors") or {}).values() for m in ms] or [exc.message]
        flash(translate_message(messages[0]), "error")
        return None


def _back(resource) -> str:
    return url_for("web.record_list", resource=resource) + "?" + request.form.get("back", "")


@bp.route("/records/<resource>/bulk-tag", methods=["POST"])
@login_required
def record_bulk_tag(resource):
    """Add a tag to the selected records: one transaction and one batch through the write path
    (``records.bulk_update``), so each record is checked against the user's update scope and
    audited once, and one the user may not change is counted as refused."""
    actor = g.actor
    res = get_resource(resource)
    if not res.has_tags:
        abort(404)
    tag = request.form.get("tag", "").strip()
    if not tag or not _selected_ids():
        flash(_("Choose records and give a tag."), "error")
        return redirect(_back(resource))
    outcome = _bulk(res, actor, add_tags=[tag])
    if outcome is not None:
        done = len(outcome.updated) + len(outcome.unchanged)
        flash(_("Tagged %(done)s record(s).", done=done), "success")
        if outcome.refused:
            flash(_("%(count)s record(s) could not be tagged.", count=len(outcome.refused)), "warning")
    return redirect(_back(resource))


@bp.route("/records/<resource>/bulk-assign", methods=["POST"])
@login_required
def record_bulk_assign(resource):
    """Give the selected records to another owner (and so to the owner's department), as bulk
    tag does: one batch through the write path, each record checked and audited once."""
    actor = g.actor
    res = get_resource(resource)
    if not has_owner(res.crud):
        abort(404)
    owner = request.form.get("owner_id", "").strip()
    if not owner.isdigit() or len(owner) > 18 or not _selected_ids():
        flash(_("Choose records and an owner."), "error")
        return redirect(_back(resource))
    outcome = _bulk(res, actor, owner_id=int(owner))
    if outcome is not None:
        done = len(outcome.updated) + len(outcome.unchanged)
        flash(
            _("Assigned %(done)s record(s) to %(owner)s.", done=done, owner=lookup.user_name(int(owner))),
            "success",
        )
        if outcome.refused:
            flash(_("%(count)s record(s) could not be assigned.", count=len(outcome.refused)), "warning")
    return redirect(_back(resource))
