"""The Chinese resident identity number (公民身份号码, GB 11643-1999): shape, birth date, check
character (ISO 7064 MOD 11-2).

Eighteen characters: a 6-digit address code, the birth date ``YYYYMMDD``, a 3-digit sequence
code (odd for men, even for women) and a check character. The check is ``(12 - S mod 11) mod 11``
where ``S`` sums each of the first 17 digits times ``2^(18-i) mod 11``; 10 is written ``X``.
"""

from __future__ import annotations

import datetime as dt
import re

from flask_babel import lazy_gettext as _l

#: the weight of each of the first 17 digits: 2^(18-i) mod 11 for position i = 1..17
WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
#: the check character of each remainder S mod 11
CHECK = "10X98765432"
SHAPE = re.compile(r"\d{17}[\dX]")
#: the earliest birth date a living resident's number may carry
EARLIEST = dt.date(1880, 1, 1)


def check_character(first17: str) -> str:
    """The MOD 11-2 check character of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK[total % 11]


def problems(value, today: dt.date | None = None) -> list[str]:
    """What is wrong with ``value`` as a resident identity number (empty: nothing)."""
    if not isinstance(value, str):
        return [str(_l("Must be text of 18 characters."))]
    if len(value) == 18 and value[-1] == "x" and value[:17].isdigit():
        return [str(_l("Write the check character X in upper case."))]
    if not SHAPE.fullmatch(value):
        return [str(_l("Must be 17 digits followed by a digit or X (18 characters)."))]
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return [str(_l("Characters 7 to 14 are not a real birth date."))]
    if not EARLIEST <= born <= (today or dt.date.today()):
        return [str(_l("The birth date in characters 7 to 14 is out of range."))]
    if check_character(value[:17]) != value[17]:
        return [str(_l("The check character (the last one) does not match: the number is mistyped."))]
    return []


def is_valid(value, today: dt.date | None = None) -> bool:
    """True when ``value`` is a valid 18-character resident identity number."""
    return not problems(value, today)


def birth_date(value: str) -> dt.date:
    """The birth date a valid number carries."""
    return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def gender(value: str) -> str:
    """``male`` or ``female``, from the parity of the sequence code (the 17th character)."""
    return "male" if int(value[16]) % 2 else "female"
