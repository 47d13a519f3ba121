"""The text encoding of an uploaded CSV file: one rule for the API importers and the workbench.

Spreadsheets reach a Chinese small business as UTF-8 (with or without the BOM Excel writes) or
as GBK from Excel on Chinese Windows. Guessing the encoding from the bytes fails on exactly the
files that matter: a short GBK file (a header and one name) is as plausible in cp1251 as in GBK,
and charset detectors then turn ``周杰`` into ``ЦЬЅЬ``. So nothing is guessed:

1. a byte-order mark decides (UTF-8, UTF-16 LE/BE);
2. else the encoding the user chose, when they chose one (:data:`ENCODINGS`);
3. else UTF-8 when the bytes are valid UTF-8;
4. else GB18030 (the superset of GBK and GB2312 that Excel writes);
5. else :class:`EncodingProblem`: the bytes are none of those, the user must pick the encoding.
"""

from __future__ import annotations

import codecs

from flask_babel import lazy_gettext as _l

#: The encodings a user may pick (value, label); "" is the rule above.
ENCODINGS = (
    ("", _l("Automatic (UTF-8, else GB18030)")),
    ("utf-8", _l("UTF-8")),
    ("gb18030", _l("GB18030 / GBK (Excel on Chinese Windows)")),
    ("big5", _l("Big5 (Traditional Chinese)")),
    ("utf-16", _l("UTF-16 (Unicode text from Excel)")),
    ("shift_jis", _l("Shift_JIS (Japanese)")),
    ("cp1252", _l("Western European (Windows-1252)")),
)
_CHOICES = frozenset(code for code, _label in ENCODINGS)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class EncodingProblem(ValueError):
    """The bytes cannot be read in the chosen (or any automatic) encoding; ``message`` says so
    in the current language and ``reason`` is the English text for API clients."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.message = message
        self.reason = reason


def check_encoding(encoding: str | None) -> str:
    """``encoding`` normalised ("" for automatic); ``EncodingProblem`` when it is not offered."""
    code = (encoding or "").strip().lower()
    if code in ("auto", "automatic"):
        code = ""
    if code in ("gbk", "gb2312", "cp936"):  # GB18030 reads everything these do
        code = "gb18030"
    if code not in _CHOICES:
        from flask_babel import gettext as _

        raise EncodingProblem(_("Unknown encoding %(name)s.", name=code), f"Unknown encoding {code!r}.")
    return code


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The text of ``data`` and the encoding it was read in (see the module docstring)."""
    from flask_babel import gettext as _

    chosen = check_encoding(encoding)
    for bom, name in _BOMS:
        if data.startswith(bom) and chosen in ("", "utf-8", "utf-16"):
            try:
                return data[len(bom) :].decode(name), name.split("-le")[0].split("-be")[0]
            except UnicodeDecodeError:
                break
    candidates = [chosen] if chosen else ["utf-8", "gb18030"]
    for name in candidates:
        try:
            return data.decode(name), name
        except UnicodeDecodeError:
            continue
    if chosen:
        raise EncodingProblem(
            _("The file is not valid %(name)s text; choose the encoding it was saved in.", name=chosen),
            f"The file is not valid {chosen} text; send the encoding it was saved in.",
        )
    raise EncodingProblem(
        _("The file is neither UTF-8 nor GB18030 text; choose the encoding it was saved in."),
        "The file is neither UTF-8 nor GB18030 text; send the encoding it was saved in "
        "(form field 'encoding') or save it as UTF-8 CSV.",
    )
