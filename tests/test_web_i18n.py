"""The workbench's catalogues: every English string has a Chinese translation, the committed .mo
matches the .po, and every string used in the code is in the catalogue."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import crm_core

ROOT = Path(crm_core.__file__).parent
PO = ROOT / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


def _catalog():
    with PO.open("rb") as f:
        return read_po(f, locale="zh_Hans_CN")


def test_every_string_is_translated():
    missing = [m.id for m in _catalog() if m.id and (not m.string or "fuzzy" in m.flags)]
    assert missing == []


def _plain(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def test_compiled_catalogue_matches_the_source():
    with MO.open("rb") as f:
        compiled = {_plain(m.id): _plain(m.string) for m in read_mo(f) if m.id}
    source = {_plain(m.id): _plain(m.string) for m in _catalog() if m.id}
    assert compiled == source, "run: pybabel compile -d crm_core/translations"


def test_every_string_in_the_code_is_in_the_catalogue():
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog()}
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}
    found = set()
    for folder in ("web", "templates"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python"), ("**.html", "jinja2")], keywords=keywords
        ):
            found.add(message if isinstance(message, str) else message[0])
    assert sorted(found - known) == [], (
        "run the pybabel extract/update steps in crm_core/translations/README.md"
    )
