"""Form posts of the loyalty screens: from submitted text to the values the plugin's marshmallow
schemas load, and from refusals (``ValidationError``, ``APIError``) to per-field messages in the
user's language."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import request
from flask_babel import gettext as _
from marshmallow import ValidationError

from crm_core.plugin_api import APIError

TRUE_TEXT = {"1", "true", "on", "yes", "y"}


class FormErrors(Exception):
    """A form was refused: ``errors`` maps input names to messages, ``message`` says it in one line."""

    def __init__(self, errors: dict[str, list[str]], message: str | None = None):
        super().__init__(message or "")
        self.errors = errors
        self.message = message or _("Please correct the marked fields.")


def _text(messages) -> list[str]:
    if isinstance(messages, dict):
        return [m for value in messages.values() for m in _text(value)]
    if isinstance(messages, list | tuple):
        return [m for value in messages for m in _text(value)]
    # marshmallow's own messages are English msgids: the merged catalogues translate them
    return [_(str(messages))]


def flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's or an ``APIError``'s nested ``errors`` as ``{input name: [message]}``."""
    if not isinstance(messages, dict):
        return {"_schema": _text(messages)}
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        if isinstance(value, dict) and key == "benefits":
            out.update(flatten(value, "benefits."))
        else:
            out[f"{prefix}{key}"] = _text(value)
    return out


def values(fields: dict[str, str], form=None) -> dict:
    """The submitted values of ``fields`` (``{name: kind}``, kind ``text``, ``optional`` (blank
    means none), ``check`` (a checkbox) or ``keep`` (blank text kept as "")), ready for a schema's
    ``load``: a blank required input is left out, so the schema reports it missing."""
    form = request.form if form is None else form
    out: dict = {}
    for name, kind in fields.items():
        raw = form.get(name)
        if kind == "check":
            out[name] = raw is not None and raw.strip().lower() in TRUE_TEXT
            continue
        text = (raw or "").strip()
        if text:
            out[name] = text
        elif kind == "optional":
            out[name] = None
        elif kind == "keep":
            out[name] = ""
    return out


def load(schema, data: dict) -> dict:
    """``schema.load(data)``, or ``FormErrors`` with its messages per input."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise FormErrors(flatten(exc.messages)) from None


def refusal(exc: APIError) -> FormErrors:
    """An ``APIError`` from a service as form errors: its per-field ``errors`` and its message."""
    errors = (exc.data or {}).get("errors") or {}
    return FormErrors(flatten(errors) if errors else {}, exc.message)


def decimal_or_error(text: str, name: str, low: Decimal, high: Decimal) -> Decimal | None:
    """``text`` as a Decimal between ``low`` and ``high`` (None when blank); ``FormErrors`` on
    ``name`` otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise FormErrors({name: [_("Not a valid number.")]}) from None
    if not value.is_finite() or not low <= value <= high:
        raise FormErrors({name: [_("Enter a number from %(low)s to %(high)s.", low=low, high=high)]})
    return value
