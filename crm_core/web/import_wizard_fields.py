"""What a file may import into a collection, and how its columns are matched to fields: the
create form's writable fields, the keys a row can be matched by (id, phone, e-mail), and the
headings each field answers to (its name, its labels in both languages, the usual Chinese
headings) for the wizard's suggested mapping.
"""

from __future__ import annotations

from ..custom import custom_fields
from ..transfer import headers as headings
from ..transfer.customer_columns import HEADER_ALIASES
from .registry import FIELD_LABELS, FormField, WebResource, fields_for

ID_COLUMN = "id"
MATCH_FIELDS = ("phone", "email")
MATCH_TYPES = ("phone", "email")


def importable_fields(res: WebResource, actor) -> list[FormField]:
    """The fields a file may fill for ``actor``: the create form's writable ones."""
    return [f for f in fields_for(res, actor, for_form=True) if f.writable]


def custom_defs(res: WebResource) -> dict:
    """The custom field definitions of ``res`` by name ({} when it has none)."""
    if not res.has_custom:
        return {}

    return {fd.name: fd for fd in custom_fields(res.resource)}


def match_keys(res: WebResource, fields: list[FormField]) -> list[tuple[str, str]]:
    """``(key, label)`` of what a row can be matched by: the id, and the phone and e-mail
    fields (core columns or custom fields of those types) the user may fill."""
    defs = custom_defs(res)
    out = [(ID_COLUMN, str(FIELD_LABELS["id"]))]
    for f in fields:
        if (not f.custom and f.name in MATCH_FIELDS) or (
            f.custom and getattr(defs.get(f.key), "type", "") in MATCH_TYPES
        ):
            out.append((f.name, f.label))
    return out


def aliases(res: WebResource, fields: list[FormField]) -> dict[str, str]:
    """Normalised heading -> field name: names first, then labels in every language, then the
    usual Chinese headings (customers') and the generic name headings."""
    out: dict[str, str] = {}

    def add(text, target):
        key = headings.normalise(text)
        if key:
            out.setdefault(key, target)

    for f in fields:
        add(f.name, f.name)
        add(f.key, f.name)
    add(ID_COLUMN, ID_COLUMN)
    custom = headings.custom_aliases([fd for fd in custom_defs(res).values()])
    for f in fields:
        add(f.label, f.name)
        if f.custom:
            continue
        for text in headings.label_aliases([f.name]):
            add(text, f.name)
    for text, target in custom.items():
        if any(f.name == target for f in fields):
            add(text, target)
    for text in headings.translations(FIELD_LABELS["id"]) | {"编号", "ID号"}:
        add(text, ID_COLUMN)
    names = {f.name for f in fields}
    if res.resource == "customers":
        for text, target in HEADER_ALIASES.items():
            if target in names:
                add(text, target)
    if "name" in names:
        for text in headings.NAME_ALIASES:
            add(text, "name")
    return out


def suggest(headers: list[str], res: WebResource, fields: list[FormField], previous: dict) -> list[str]:
    """The field each column fills ("" to skip): the user's last choice for that heading, else
    the aliases; a field already taken by an earlier column is not offered twice."""
    known = {f.name for f in fields} | {ID_COLUMN}
    table = aliases(res, fields)
    taken: set[str] = set()
    out = []
    for header in headers:
        key = headings.normalise(header)
        target = previous.get(key) if key in previous else table.get(key, "")
        if target not in known or target in taken:
            target = ""
        if target:
            taken.add(target)
        out.append(target)
    return out
