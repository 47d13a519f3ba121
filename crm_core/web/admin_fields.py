"""Administration of custom fields and custom object types: each entity's fields with a form to
add one, editing a field without losing stored values (the records in the way are listed), and
defining an object type.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import permissions
from ..custom import FIELD_TYPES, custom_fields, definitions, known_entities, objects
from ..errors import APIError
from .admin import need
from .blueprint import bp
from .forms import flatten_messages
from .messages import translate_message
from .session import login_required


def _choices_from_form(raw: str, current=()) -> list:
    """Choices typed as ``a, b, c`` (full-width commas too); a value that was already a choice
    keeps its labels."""
    labels = {c["value"]: c.get("label") for c in current}
    values = [c.strip() for c in raw.replace("，", ",").split(",") if c.strip()]
    return [{"value": v, "label": labels[v]} if labels.get(v) else v for v in values]


def _blocking_reason(reason: str) -> str:
    """Why one stored value is in the way (``'a': Must be one of: b.``), in the reader's language:
    the value as stored, then the validator's message translated."""
    if reason == "no value":
        return _("no value")
    value, sep, message = str(reason).partition(": ")
    return f"{value}{sep}{translate_message(message)}" if sep else translate_message(reason)


@bp.route("/admin/fields", methods=["GET", "POST"])
@login_required
def admin_fields():
    """Custom fields of one entity: the list, and a form to add one (it shows up in that
    entity's forms and lists at once)."""
    actor = g.actor
    need("fields:create")
    entities = known_entities()
    entity = request.values.get("entity") or (entities[0] if entities else "")
    if entity not in entities:
        abort(404)
    errors, status, form = {}, 200, {}
    if request.method == "POST":
        form = request.form
        data = {
            "name": form.get("name", "").strip(),
            "type": form.get("type", ""),
            "label": {"en": form.get("label_en", "").strip(), "zh-CN": form.get("label_zh", "").strip()},
            "required": bool(form.get("required")),
            "unique": bool(form.get("unique")),
            "filterable": bool(form.get("filterable")),
            "encrypted": bool(form.get("encrypted")),
            "blind_index": bool(form.get("blind_index")),
        }
        choices = _choices_from_form(form.get("choices", ""))
        if data["type"] in ("choice", "multi-choice"):
            data["choices"] = choices
        if form.get("default", "") != "":
            data["default"] = form.get("default")
        try:
            definitions.create_field(entity, data)
        except APIError as exc:
            if exc.code not in (409, 422):
                raise
            errors = flatten_messages(exc.data.get("errors") or {}) or {"_schema": [exc.message]}
            status = exc.code
        else:
            flash(_("Field %(name)s added.", name=data["name"]), "success")
            return redirect(url_for("web.admin_fields", entity=entity))
    return render_template(
        "crm/admin/fields.html",
        entities=entities,
        entity=entity,
        fields=custom_fields(entity),
        types=FIELD_TYPES,
        errors=errors,
        form=form,
        can_delete=permissions.can(actor, "fields", "delete"),
        can_update=permissions.can(actor, "fields", "update"),
        can_create_type=permissions.can(actor, "object_types", "create"),
    ), status


@bp.route("/admin/fields/<entity>/<name>", methods=["GET", "POST"])
@login_required
def admin_field_edit(entity, name):
    """Edit a custom field's label, help, choices, default and flags (``fields:update``, as the
    API's PATCH). Stored values are never lost: a change they would not fit (a new type, a
    removed choice, ``required`` without a default, ``unique`` over duplicates) is refused
    and the records in the way are listed."""
    need("fields:update")
    if entity not in known_entities():
        abort(404)
    current = next((f for f in custom_fields(entity) if f.name == name), None)
    if current is None:
        abort(404)
    errors, status, blocking = {}, 200, []
    form = request.form
    if request.method == "POST":
        data = {
            "label": {"en": form.get("label_en", "").strip(), "zh-CN": form.get("label_zh", "").strip()},
            "help": {"en": form.get("help_en", "").strip(), "zh-CN": form.get("help_zh", "").strip()},
            "required": bool(form.get("required")),
            "unique": bool(form.get("unique")),
            "filterable": bool(form.get("filterable")),
            "encrypted": bool(form.get("encrypted")),
            "blind_index": bool(form.get("blind_index")),
        }
        if not current.source:  # a plugin's field keeps the type its code expects
            data["type"] = form.get("type", current.type)
        if data.get("type", current.type) in ("choice", "multi-choice"):
            data["choices"] = _choices_from_form(form.get("choices", ""), current.choices)
        default = form.get("default", "")
        data["default"] = default if default != "" else None
        try:
            definitions.update_field(entity, name, data)
        except APIError as exc:
            if exc.code not in (409, 422):
                raise
            found = exc.data.get("errors") or {}
            held = sorted((found.pop("records", None) or {}).items(), key=lambda kv: int(kv[0]))
            blocking = [(rid, _blocking_reason(reason)) for rid, reason in held]
            errors = flatten_messages(found) or {}
            if blocking:  # the API's message names the entity by its code; say it for people
                count = (exc.data.get("extra") or {}).get("count", len(blocking))
                errors.setdefault(
                    "_schema", [_("%(count)s record(s) hold values this change would not keep.", count=count)]
                )
            errors.setdefault("_schema", [translate_message(exc.message)])
            status = exc.code
        else:
            flash(_("Field %(name)s saved.", name=name), "success")
            return redirect(url_for("web.admin_fields", entity=entity))
    return render_template(
        "crm/admin/field_edit.html",
        entity=entity,
        field=current,
        types=FIELD_TYPES,
        errors=errors,
        blocking=blocking,
        form=form if errors else None,
    ), status


@bp.route("/admin/object-types", methods=["POST"])
@login_required
def admin_object_type_new():
    """Define a custom object type (``object_types:create``, as the API); its records get list and
    form pages at once, and its fields are added on the custom fields page."""
    permissions.require(g.actor, "object_types", "create")
    name = request.form.get("name", "").strip()
    label = {
        "en": request.form.get("label_en", "").strip(),
        "zh-CN": request.form.get("label_zh", "").strip(),
    }
    try:
        objects.create_type(name, label=label if any(label.values()) else None)
    except APIError as exc:
        if exc.code not in (409, 422):
            raise
        details = " ".join(m for msgs in (exc.data.get("errors") or {}).values() for m in msgs)
        flash(f"{exc.message} {details}".strip(), "error")
        return redirect(url_for("web.admin_fields"))
    flash(_("Object type %(name)s created.", name=name), "success")
    return redirect(url_for("web.admin_fields", entity=f"objects.{name}"))


@bp.route("/admin/fields/<entity>/<name>/delete", methods=["POST"])
@login_required
def admin_field_delete(entity, name):
    """Delete a custom field (its values stay in the records until purged through the API)."""
    permissions.require(g.actor, "fields", "delete")
    definitions.delete_field(entity, name)
    flash(_("Field %(name)s deleted.", name=name), "success")
    return redirect(url_for("web.admin_fields", entity=entity))
