"""Header names of imported files: what a column heading may say for each field.

A spreadsheet's first row names its columns the way people wrote them: the API name
(``phone``), the label the workbench shows in either language (``Phone``, ``手机``; the import
page itself lists ``名称`` for ``name``), a custom field's label (``信用评分``), or a usual
Chinese heading (``手机号码``, ``电子邮箱``). The importers (API and workbench) match headings
through :func:`normalise` and the tables built here, so every path accepts the same headings.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..records.labels import FIELD_LABELS, LANGUAGES

#: Headings Chinese spreadsheets use for the name of any record (besides the translated labels).
NAME_ALIASES = ("名称", "名字", "姓名", "标题", "title")


def normalise(header) -> str:
    """A heading as matched: no BOM, no surrounding spaces or required-marks (``*``), no inner
    spaces, lower-case (``" Phone *"`` -> ``"phone"``)."""
    text = str(header or "").strip().lstrip("\ufeff").strip().rstrip("*＊").strip()
    return text.lower().replace(" ", "").replace("\u3000", "")


def translations(label) -> set[str]:
    """``label`` (a lazy gettext string, a plain string or a ``{"en": ..., "zh-CN": ...}``
    dict) in every language of the workbench."""
    if not label:
        return set()
    if isinstance(label, dict):
        return {str(v) for v in label.values() if v}
    texts = {str(label)}
    from flask import has_app_context

    if isinstance(label, str) or not has_app_context():
        return texts
    from flask_babel import force_locale

    for locale in LANGUAGES:  # a lazy string: its text in each language
        with force_locale(locale):
            texts.add(str(label))
    return texts


def label_aliases(names: Iterable[str]) -> dict[str, str]:
    """Normalised label (every language) -> field, for the core field ``names`` that have a
    label (``records.labels.FIELD_LABELS``)."""
    out: dict[str, str] = {}
    for name in names:
        label = FIELD_LABELS.get(name)
        for text in translations(label) if label is not None else ():
            out.setdefault(normalise(text), name)
    return out


def custom_aliases(definitions) -> dict[str, str]:
    """Normalised heading -> ``custom.<name>`` for custom fields (their name, ``custom.<name>``
    and their label in every language)."""
    out: dict[str, str] = {}
    for fd in definitions:
        target = f"custom.{fd.name}"
        for text in (fd.name, target, *translations(fd.label)):
            out.setdefault(normalise(text), target)
    return out
