"""Keep a package's gettext catalogues in step with its code: extract, merge, translate, compile.

A package (the core, or a plugin) keeps ``translations/babel.cfg`` (which files hold strings) and
``translations/<locale>/LC_MESSAGES/messages.po`` beside its code, and commits the compiled
``.mo`` so an install needs no build step. From the repository root::

    python -m crm_core.web.catalogs sync crm_core                       # extract + merge + compile
    python -m crm_core.web.catalogs sync plugins/loyalty/crm_loyalty --set zh.json
    python -m crm_core.web.catalogs check crm_core                      # what a test fails on

``--set`` takes a JSON object ``{"English": "中文", ...}`` (or ``-`` for standard input); a
message with a context (``pgettext``) is keyed ``"<context>\u0004<English>"``.
Every write happens under an exclusive lock on the catalogue, so several people (or tools)
adding strings at once never lose each other's entries. ``sync`` prints the strings still
untranslated; :func:`problems` is what a package's test asserts is empty.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

LOCALES = ("zh_Hans_CN",)
#: joins a message's context and id in a ``--set`` key (gettext's own separator):
#: ``{"tier change\u0004From": "原等级"}`` translates ``pgettext("tier change", "From")``
CONTEXT_SEPARATOR = "\x04"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "_l": None,
    "lazy_gettext": None,
    "ngettext": (1, 2),
    "lazy_ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "lazy_pgettext": ((1, "c"), 2),
}


def _po(package: Path, locale: str) -> Path:
    return package / "translations" / locale / "LC_MESSAGES" / "messages.po"


def extract(package: Path) -> Catalog:
    """The strings the package's code uses, per its ``translations/babel.cfg``."""
    with (package / "translations" / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    # the cfg names paths from the package's parent (``crm_core/web/**.py``): extract from there
    # and keep only what lies inside the package
    root = package.parent
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        root, method_map=method_map, options_map=options_map, keywords=KEYWORDS
    ):
        if not (root / filename).resolve().is_relative_to(package.resolve()):
            continue
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _read(path: Path, locale: str) -> Catalog:
    if not path.exists():
        return Catalog(locale=locale)
    with path.open("rb") as f:
        return read_po(f, locale=locale)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(catalog: Catalog, path: Path) -> None:
    with path.open("wb") as f:
        write_po(f, catalog, width=100, include_lineno=False)
    with path.with_suffix(".mo").open("wb") as f:
        write_mo(f, catalog)


def sync(package: Path, translations: dict[str, str] | None = None) -> list[str]:
    """Merge the strings the code uses into every locale's catalogue (strings no longer used are
    dropped, translations kept), apply ``translations`` (``{msgid: msgstr}``), compile; return
    the strings still untranslated."""
    template = extract(package)
    missing: list[str] = []
    for locale in LOCALES:
        path = _po(package, locale)
        with _locked(path):
            catalog = _read(path, locale)
            catalog.update(template, no_fuzzy_matching=True)
            catalog.obsolete.clear()
            for key, msgstr in (translations or {}).items():
                context, _, msgid = key.rpartition(CONTEXT_SEPARATOR)
                message = catalog.get(msgid, context=context or None)
                if message is None:  # a string the code does not use (yet): keep it anyway
                    catalog.add(msgid, msgstr, context=context or None)
                else:
                    message.string = msgstr
                    message.flags.discard("fuzzy")
            _write(catalog, path)
            missing += [f"{locale}: {m.id}" for m in catalog if m.id and not m.string]
    return missing


def _plain(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def problems(package: Path) -> list[str]:
    """What is wrong with the package's catalogues: strings in the code but not in a catalogue,
    entries without a translation (or fuzzy), and a ``.mo`` that differs from its ``.po``."""
    used = {m.id if isinstance(m.id, str) else m.id[0] for m in extract(package) if m.id}
    out = []
    for locale in LOCALES:
        path = _po(package, locale)
        catalog = _read(path, locale)
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
        out += [f"{locale}: not in the catalogue: {m}" for m in sorted(used - known)]
        out += [
            f"{locale}: untranslated: {m.id}"
            for m in catalog
            if m.id and (not m.string or "fuzzy" in m.flags)
        ]
        mo = path.with_suffix(".mo")
        compiled = {}
        if mo.exists():
            with mo.open("rb") as f:
                compiled = {(m.context, _plain(m.id)): _plain(m.string) for m in read_mo(f) if m.id}
        if compiled != {(m.context, _plain(m.id)): _plain(m.string) for m in catalog if m.id}:
            out.append(f"{locale}: {mo} is stale: run python -m crm_core.web.catalogs sync {package}")
    return out


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m crm_core.web.catalogs")
    parser.add_argument("command", choices=["sync", "check"])
    parser.add_argument("package", type=Path, help="the package folder, e.g. crm_core")
    parser.add_argument("--set", dest="translations", help="JSON {msgid: msgstr} file, or - for stdin")
    args = parser.parse_args(argv)
    if args.command == "check":
        found = problems(args.package)
        print("\n".join(found) or "catalogues complete")
        return 1 if found else 0
    translations = None
    if args.translations:
        text = sys.stdin.read() if args.translations == "-" else Path(args.translations).read_text("utf-8")
        translations = json.loads(text)
    missing = sync(args.package, translations)
    print("\n".join(f"untranslated: {m}" for m in missing) or "every string is translated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
