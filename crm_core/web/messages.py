"""Error and validation messages in the reader's language, translated where they are rendered.

Messages are raised in English everywhere (``APIError(422, "...")``, marshmallow's
``ValidationError``), so logs, task reports and API clients without ``Accept-Language`` get
English. Where an error is shown (the API's error JSON in :mod:`crm_core.errors`, the
workbench's form errors in :mod:`crm_core.web.forms`), :func:`translate_message` looks the text
up in the loaded catalogues (the core's and every plugin's): an exact msgid, or a msgid with named
placeholders (``Must be at least %(min)s characters long.``) whose literal parts match the text;
the captured values are translated too when they are messages themselves (a refused query
parameter's reason) or, on pages, codes the catalogues know (``Must be one of: low, high.``).
:mod:`crm_core.web.catalog_extract` puts those msgids into the catalogues.
"""

from __future__ import annotations

import re
import weakref

from flask import current_app, has_app_context
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l

from ..records.labels import RESOURCE_LABELS

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_patterns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: marshmallow's names for the kinds in ``Not a valid %(obj_type)s.``; its own messages are
#: extracted from the installed marshmallow (see :func:`catalog_extract.marshmallow_messages`)
OBJECT_TYPES = (_l("datetime"), _l("date"), _l("time"), _l("aware"), _l("naive"))


def _compile(catalog: dict) -> list[tuple[re.Pattern, str, list[str], list[str]]]:
    """The placeholder msgids of a catalogue as regular expressions with their literal parts,
    most literal text first (so ``Must be at least %(min)s characters long.`` wins over
    ``Must be %(x)s.``)."""
    found = []
    for msgid in catalog:
        if not isinstance(msgid, str) or "%(" not in msgid:
            continue
        if not _PLACEHOLDER.sub("", msgid).strip():
            # only placeholders and spaces ("%(action)s %(resource)s"): it would match, and
            # rewrite, any message with a space in it
            continue
        names, regex, parts, last = [], [], [], 0
        for match in _PLACEHOLDER.finditer(msgid):
            parts.append(msgid[last : match.start()].replace("%%", "%"))
            regex.append(re.escape(parts[-1]))
            name = match.group(1)
            regex.append(f"(?P<{name}>.+?)" if name not in names else f"(?P={name})")
            names.append(name)
            last = match.end()
        parts.append(msgid[last:].replace("%%", "%"))
        regex.append(re.escape(parts[-1]))
        literal = len(_PLACEHOLDER.sub("", msgid))
        pattern = re.compile("".join(regex), re.DOTALL)
        found.append((literal, pattern, msgid, names, [p for p in parts if p]))
    found.sort(key=lambda item: -item[0])
    return [(pattern, msgid, names, parts) for _literal, pattern, msgid, names, parts in found]


def _catalog() -> tuple[dict, list] | None:
    if not has_app_context() or "babel" not in current_app.extensions:
        return None
    translations = get_translations()
    catalog = getattr(translations, "_catalog", None)
    if not catalog or len(catalog) <= 1:  # English: nothing but the header, if that
        return None
    if translations not in _patterns:
        _patterns[translations] = _compile(catalog)
    return catalog, _patterns[translations]


def translate_message(text, _depth: int = 0, labels: bool = True) -> str:
    """``text`` (an English message, possibly with values filled in) in the current language;
    unchanged when no catalogue knows it. A filled-in value that is a message itself
    (``Invalid query parameter 'sort': Unknown sort field 'x'.``) is translated too; with
    ``labels``, so is a list of codes the catalogues know (``Must be one of: low, high.`` reads
    with the choices' labels, as the form's select shows them; the API keeps the codes a client
    must send). Markup (HTML a page built on purpose) is left as it is."""
    if hasattr(text, "__html__"):
        return text
    text = "" if text is None else str(text)
    found = _catalog()
    if found is None or not text:
        return text
    catalog, patterns = found
    exact = catalog.get(text)
    if exact:
        return exact
    for pattern, msgid, names, parts in patterns:
        # the literal parts must all be there: a cheap test that spares the regex most messages
        if not all(part in text for part in parts):
            continue
        match = pattern.fullmatch(text)
        if match is None or not catalog.get(msgid):
            continue
        values = {}
        for name in names:
            values[name] = _value(match.group(name), catalog, _depth, labels)
            if name == "resource":  # "No customers record 3.": the kind of record by its name
                values[name] = _resource_label(match.group(name), values[name])
        try:
            return catalog[msgid] % values
        except (KeyError, ValueError, TypeError):  # a msgstr whose placeholders differ
            return text
    return text


def _resource_label(code: str, fallback: str) -> str:
    """The translated name of a collection (``customers`` -> 客户) a message names by its code."""
    label = RESOURCE_LABELS.get(code)
    return str(label) if label is not None else fallback


def _value(value: str, catalog: dict, depth: int, labels: bool) -> str:
    """A filled-in value of a message, translated when the catalogues know it."""
    if catalog.get(value):
        return catalog[value]
    items = value.split(", ")
    if labels and len(items) > 1 and all(catalog.get(item) for item in items):
        return ", ".join(catalog[item] for item in items)
    return translate_message(value, 1, labels) if not depth else value


def translate_errors(errors, labels: bool = True):
    """Per-field messages (``{field: [message]}``, nested dicts and lists) translated, same shape."""
    if isinstance(errors, dict):
        return {key: translate_errors(value, labels) for key, value in errors.items()}
    if isinstance(errors, list | tuple):
        return [translate_errors(item, labels) for item in errors]
    if isinstance(errors, str):
        return translate_message(errors, labels=labels)
    return errors
