"""From submitted form values (or an imported row) to a validated write through the service.

The same path serves the create/edit forms and every row of an import, so both give the same
per-field messages: the collection's marshmallow schema loads the values (normalising phones and
e-mail addresses), then ``crm_core.records.service`` checks permissions and custom fields and
saves. Error keys are the input names (``email``, ``custom.credit_score``).
"""

from __future__ import annotations

import json

from flask_babel import gettext as _
from marshmallow import ValidationError

from ..db import database
from ..errors import APIError
from ..records import service
from .formatting import utc_from_input
from .messages import translate_message
from .registry import NOT_CLEARABLE, FormField, WebResource

TRUE_TEXT = {"1", "true", "yes", "on", "y", "是", "√"}


class FormErrors(Exception):
    """The submitted values were refused: ``errors`` maps input names to messages."""

    def __init__(self, errors: dict[str, list[str]], message: str = ""):
        super().__init__(message)
        self.errors = errors
        self.message = translate_message(message)


def flatten_messages(messages, prefix="") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{input name: [text]}``, in the page's language."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) and not prefix and key == "custom":
                out.update(flatten_messages(value, "custom."))
            elif isinstance(value, dict):
                out[name] = [
                    translate_message(m) for v in value.values() for m in (v if isinstance(v, list) else [v])
                ]
            else:
                out[name] = [translate_message(m) for m in (value if isinstance(value, list) else [value])]
    else:
        out["_schema"] = [
            translate_message(m) for m in (messages if isinstance(messages, list) else [messages])
        ]
    return out


def read_values(fields: list[FormField], getter, getlist, *, partial: bool) -> tuple[dict, dict]:
    """Pull the writable fields' raw values out of a form: ``(data, errors)``.

    ``getter(name)`` returns one string or None (field absent), ``getlist(name)`` all values.
    Blank inputs are left out on create (so required fields report "missing") and clear the
    value on edit with what the schema accepts for "empty" (``FormField.empty``: None, or ""
    for a text the schema does not let be null); a field that cannot be emptied says so.
    A reference (a picker's hidden input) must be an id.
    """
    data: dict = {}
    custom: dict = {}
    errors: dict[str, list[str]] = {}
    for f in fields:
        if not f.writable:
            if getter(f.name) is not None:  # only a crafted post carries it
                errors[f.name] = [_("This field is read-only for you.")]
            continue
        raw = getter(f.name)
        if f.widget == "checkbox":
            value = raw is not None and str(raw).strip().lower() in TRUE_TEXT
            if raw is None and partial and getter(f"{f.name}.__shown") is None:
                continue  # not on this form
        elif f.widget == "multiselect":
            value = [v for v in getlist(f.name) if v]
            if not value and raw is None and partial:
                continue
        elif raw is None:
            continue
        elif f.widget == "tags":
            value = [part.strip() for part in str(raw).replace("，", ",").split(",") if part.strip()]
        elif f.widget == "json":
            text = str(raw).strip() or "{}"
            try:
                value = json.loads(text)
            except ValueError:
                errors[f.name] = [_("Not valid JSON.")]
                continue
        else:
            value = str(raw).strip()
            if value == "":
                if partial and f.masked:
                    continue  # the input started empty over a value the user sees only partly
                if not partial:
                    continue  # the schema's default, or its "missing" message when required
                if f.custom:
                    value = None  # removes the custom value
                elif f.empty == NOT_CLEARABLE:
                    if f.depends_on and (getter(f.depends_on) or "").strip():
                        continue  # cleared because what it depends on changed: the service picks
                    errors[f.name] = [_("This field cannot be empty.")]
                    continue
                else:
                    value = f.empty
            elif f.widget == "datetime":
                value = utc_from_input(value)  # the form showed the user's time zone
            elif f.widget == "reference":
                if not value.isdigit() or len(value) > 18:
                    errors[f.name] = [_("Choose an entry from the list.")]
                    continue
                value = int(value)
        if f.custom:
            custom[f.key] = value
        else:
            data[f.name] = value
    if custom:
        data["custom"] = custom
    return data, errors


def load(res: WebResource, data: dict, *, partial: bool) -> dict:
    """Load ``data`` with the collection's schema; ``FormErrors`` with per-input messages."""
    schema = type(res.schema)(partial=partial) if partial else type(res.schema)()
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise FormErrors(flatten_messages(exc.messages), _("Please correct the marked fields.")) from None


def _api_errors(exc: APIError) -> FormErrors:
    errors = exc.data.get("errors") or {}
    flat = flatten_messages(errors) if errors else {}
    return FormErrors(flat, exc.message)


def save(res: WebResource, actor, values: dict, record=None):
    """Create (``record`` None) or update a record from loaded ``values``; ``FormErrors`` on refusal.

    403 (a read-only field, outside the scope), 409 (a duplicate) and 422 (custom fields) come
    back as messages on the fields they name.
    """
    options = dict(res.crud.write_options or {})
    try:
        with database.atomic():
            if record is None:
                return service.create(res.resource, res.model, values, actor, **options)
            return service.update(res.resource, record, values, actor, **options)
    except APIError as exc:
        if exc.code in (403, 409, 422):
            raise _api_errors(exc) from None
        raise


def submit(res: WebResource, actor, fields: list[FormField], getter, getlist, record=None, hidden=()):
    """Read, load and save one form or import row; returns the saved record.

    ``hidden`` names fields the user may not see: a post carrying one (only a crafted one can)
    is refused rather than silently half-applied.
    """
    partial = record is not None
    data, errors = read_values(fields, getter, getlist, partial=partial)
    for name in hidden:
        for key in (name, f"custom.{name}"):
            if getter(key) is not None:
                errors[key] = [_("You may not write this field.")]
    if errors:
        raise FormErrors(errors, _("Please correct the marked fields."))
    values = load(res, data, partial=partial)
    # a new owner with the department left as it was: the record follows its owner (the service's
    # rule for a new owner), instead of a refusal for a department that is not the owner's
    moved = record is not None and values.get("owner_id", None) != getattr(record, "owner_id", None)
    if (
        moved
        and "owner_id" in values
        and values.get("department_id", ()) == getattr(record, "department_id", None)
    ):
        del values["department_id"]
    return save(res, actor, values, record)
