"""Field rules: which fields are hidden, masked or read-only for an actor, and masking by them.

The rules: ``hidden`` (left out of every dump), ``masked`` (shown partly, see
:func:`mask_value`; not writable, nor searchable, filterable or sortable), ``masked-writable``
(shown partly like ``masked``, but written: the front desk types a patient's ID number it will
then see as 110105********002X), ``read-only`` (shown whole, not writable). Each rule is what it
lets be seen (hidden < partly < whole) and whether it lets the field be written; they combine as
a union of what the actor's roles allow, per dimension: the most permissive wins, so a field is
hidden only if every role granting anything on the resource hides it, masked only if none shows
it whole, not writable only if none lets it be written.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from ..auth.models import Role
from ..crypto import prefetch, reveal
from ..errors import APIError
from .grants import _cache, _matches, _roles_granting
from .models import FieldRule

# each rule as (what it shows: 0 nothing, 1 partly, 2 whole; whether it is written); None: read-write
_EFFECT = {
    "hidden": (0, False),
    "masked": (1, False),
    "masked-writable": (1, True),
    "read-only": (2, False),
    None: (2, True),
}
_RULE_OF = {effect: rule for rule, effect in _EFFECT.items()}
#: the rules a field is shown partly under, and those it is not written under
MASKED_RULES = frozenset({"masked", "masked-writable"})
UNWRITABLE_RULES = frozenset({"hidden", "masked", "read-only"})


def strictest(rules) -> str | None:
    """The rule that allows only what every one of ``rules`` allows (None: read-write)."""
    effects = [_EFFECT.get(rule, _EFFECT[None]) for rule in rules] or [_EFFECT[None]]
    return _RULE_OF[(min(e[0] for e in effects), all(e[1] for e in effects))]


def most_permissive(rules) -> str | None:
    """The rule that allows what any one of ``rules`` allows (None: read-write)."""
    effects = [_EFFECT.get(rule, _EFFECT[None]) for rule in rules] or [_EFFECT[None]]
    return _RULE_OF[(max(e[0] for e in effects), any(e[1] for e in effects))]


def at_least_as_strict(rule: str | None, other: str | None) -> bool:
    """True when ``rule`` allows nothing, seen or written, that ``other`` does not."""
    mine, theirs = _EFFECT.get(rule, _EFFECT[None]), _EFFECT.get(other, _EFFECT[None])
    return mine[0] <= theirs[0] and mine[1] <= theirs[1]


def field_rules(actor, resource: str) -> dict[str, str]:
    """``{field: "hidden" | "masked" | "masked-writable" | "read-only"}`` for ``actor`` on
    ``resource`` (absent: read-write).

    Rules combine as a union of what the actor's roles allow (the most permissive wins): a field
    is hidden only if every role granting anything on the resource hides it, masked only if none
    shows it whole, not writable only if none lets it be written.
    """
    if actor is None:
        return {}
    cache = _cache()
    key = ("fields", actor.roles, resource)
    if key in cache:
        return dict(cache[key])
    relevant = _roles_granting(actor, resource)
    rules: dict[str, str] = {}
    if relevant:
        rows = (
            FieldRule.select(Role.name, FieldRule.resource, FieldRule.field, FieldRule.rule)
            .join(Role)
            .where(Role.name.in_(sorted(relevant)))
            .tuples()
        )
        per_role: dict[str, dict[str, str]] = {}
        for role, res, field, rule in rows:
            if _matches(res, resource):
                mine = per_role.setdefault(role, {})
                # one role's rows for the field (``*`` and the resource itself): the strictest
                mine[field] = strictest([mine[field], rule]) if field in mine else rule
        fields = set().union(*per_role.values()) if per_role else set()
        for field in fields:
            rule = most_permissive([per_role.get(role, {}).get(field) for role in relevant])
            if rule:
                rules[field] = rule
    cache[key] = rules
    return dict(rules)


def mask(actor, resource: str, data: Any):
    """A copy of ``data`` (a dumped dict or a list of them) without the fields hidden from
    ``actor`` and with the masked ones shown partly (:func:`mask_value`), keys inside ``custom``
    included. Unlike ``view(...).dump`` it keeps everything else even when the actor has no read
    grant (callers that already checked the grant)."""
    rules = field_rules(actor, resource)
    hidden = frozenset(f for f, rule in rules.items() if rule == "hidden")
    masked = frozenset(f for f, rule in rules.items() if rule in MASKED_RULES)
    if isinstance(data, list):
        prefetch(data)
        return [shown(resource, i, hidden, masked) if isinstance(i, dict) else i for i in data]
    if isinstance(data, dict):
        return shown(resource, data, hidden, masked)
    return data


def shown(resource: str, data: dict, hidden, masked) -> dict:
    """What a reader sees of one dumped record of ``resource``: the ``hidden`` fields left out,
    then the encrypted values of what remains decrypted (``crypto.reveal``: only fields the reader
    may see are ever opened), then the ``masked`` ones shown partly."""
    return mask_values(reveal(resource, _mask_one(data, hidden)), masked)


def without_masked_echoes(actor, resource: str, data: dict, stored: dict) -> dict:
    """``data`` without the ``masked-writable`` values that only echo what ``actor`` was shown of
    ``stored`` (the record's dumped values): a client that reads a record and writes it back
    sends 110105********002X, which must keep the number, not replace it. Keys inside ``custom``
    included; ``data`` itself when nothing is dropped."""
    writable_masked = {f for f, rule in field_rules(actor, resource).items() if rule == "masked-writable"}
    if not writable_masked or not isinstance(data, dict):
        return data
    seen = shown(resource, stored, frozenset(), frozenset(writable_masked))
    out = {k: v for k, v in data.items() if not (k in writable_masked and k in seen and v == seen[k])}
    if isinstance(data.get("custom"), dict):
        seen_custom = seen.get("custom") or {}
        out["custom"] = {
            k: v
            for k, v in data["custom"].items()
            if not (k in writable_masked and k in seen_custom and v == seen_custom[k] and v is not None)
        }
    return out


def check_writable(actor, resource: str, data: dict) -> None:
    """Raise ``APIError(403)`` naming each hidden, masked or read-only field present in ``data``
    (including keys inside ``custom``); a ``masked-writable`` one is written."""
    rules = field_rules(actor, resource)
    if not rules or not isinstance(data, dict):
        return
    errors = {}
    keys = [k for k in data if k != "custom"]
    if isinstance(data.get("custom"), dict):
        keys += list(data["custom"])
    for key in keys:
        rule = rules.get(key)
        if rule in UNWRITABLE_RULES:
            errors[key] = [f"This field is {rule} for you."]
    if errors:
        raise APIError(403, "Not allowed to write: " + ", ".join(sorted(errors)) + ".", errors=errors)


def _mask_one(data: dict, hidden: frozenset[str] | set[str]) -> dict:
    # a new dict (and a new ``custom``) is enough: values are never changed, only left out, and a
    # deep copy per value costs more than the rest of the masking on a page of records
    out = {k: v for k, v in data.items() if k not in hidden} if hidden else dict(data)
    if isinstance(out.get("custom"), dict):
        out["custom"] = {k: v for k, v in out["custom"].items() if k not in hidden}
    return out


# --- masking: what a ``masked`` field shows ---------------------------------------------------
#
# The pattern comes from the field's name, else from the value's shape (so a custom field of type
# phone or email, whose values are validated into that shape, masks as one):
#
# ======== ============================================== ============================ =================
# pattern  field name                                     value shape                  shows
# ======== ============================================== ============================ =================
# phone    ``*phone*``, ``*mobile*``, tel, fax        +E.164 or 7-20 digits        first 3, last 4
#                                                                                       (after ``+cc ``)
# id       ``*id_number*``, ``*id_card*``, ``*idcard*``,  18 characters (17 digits and  first 6, last 4
#          ``*id_no*``, ``*identity*``, passport           a digit or X) or 15 digits
# email    ``*email*``, ``*e_mail*``                       one ``@``                     first character
#                                                                                       and the domain
# name     name, ``*_name``, ``*name_*``                                                the first character
# text     anything else                                                                first and last
# ======== ============================================== ============================ =================
#
# Each hidden character becomes one ``*`` (138****5678, 110105********1234); a value too short
# to keep both ends keeps only its first character. Non-text values are masked as their text.

MASK = "*"
_PHONE_NAMES = re.compile(r"phone|mobile|(^|_)(tel|fax)($|_)")
_ID_NAMES = re.compile(r"id_number|id_card|idcard|id_no($|_)|identity|passport")
_EMAIL_NAMES = re.compile(r"e_?mail")
_NAME_NAMES = re.compile(r"^(name|.*_name|name_.*)$")
_ID_SHAPE = re.compile(r"^(\d{17}[\dXx]|\d{15})$")
_PHONE_SHAPE = re.compile(r"^\+?[\d\s()-]{7,20}$")
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+$")


def mask_pattern(field: str, value: Any = None) -> str:
    """The masking pattern of ``field`` (``phone``, ``id``, ``email``, ``name`` or ``text``):
    from its name, else from the shape of ``value`` (see the table above)."""
    name = field.lower()
    if _ID_NAMES.search(name):
        return "id"
    if _PHONE_NAMES.search(name):
        return "phone"
    if _EMAIL_NAMES.search(name):
        return "email"
    if _NAME_NAMES.match(name):
        return "name"
    text = value if isinstance(value, str) else ""
    if _ID_SHAPE.match(text):
        return "id"
    if _EMAIL_SHAPE.match(text):
        return "email"
    if _PHONE_SHAPE.match(text) and sum(c.isdigit() for c in text) >= 7:
        return "phone"
    return "text"


def _keep(text: str, front: int, back: int) -> str:
    """``text`` with all but its first ``front`` and last ``back`` characters as ``*``; a text
    too short for that keeps only its first character (never the whole value)."""
    if len(text) <= front + back:
        return text[:1] + MASK * (len(text) - 1) if len(text) > 1 else MASK * len(text)
    return text[:front] + MASK * (len(text) - front - back) + (text[-back:] if back else "")


def _mask_phone(text: str) -> str:
    # an E.164 number keeps its country code apart: +86 138****5678, not +86*******5678
    if text.startswith("+"):
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
        code = str(number.country_code) if number is not None else ""
        digits = re.sub(r"\D", "", text)
        if code and digits.startswith(code):
            return f"+{code} {_keep(digits[len(code) :], 3, 4)}"
    return _keep(text, 3, 4)


def _mask_email(text: str) -> str:
    local, _, domain = text.rpartition("@")
    if not local:
        return _keep(text, 1, 1)
    return local[:1] + MASK * (len(local) - 1) + "@" + domain if len(local) > 1 else MASK + "@" + domain


def mask_value(field: str, value: Any) -> Any:
    """What a ``masked`` field ``field`` shows of ``value``: phones 138****5678, identity numbers
    110105********1234, e-mail z****@example.com, names 张**, other text a***z (see the table in
    this module). ``None`` and empty text stay as they are (that a value is missing is shown)."""
    if value is None or value == "":
        return value
    text = value if isinstance(value, str) else str(value)
    pattern = mask_pattern(field, text)
    if pattern == "phone":
        return _mask_phone(text)
    if pattern == "id":
        return _keep(text, 6, 4)
    if pattern == "email":
        return _mask_email(text)
    if pattern == "name":
        return _keep(text, 1, 0)
    return _keep(text, 1, 1)


def mask_values(data: dict, masked: frozenset[str] | set[str]) -> dict:
    """``data`` (a dumped dict) with the values of the ``masked`` fields shown partly
    (:func:`mask_value`), keys inside ``custom`` included; ``data`` itself when nothing is masked."""
    if not masked:
        return data
    out = {k: mask_value(k, v) if k in masked else v for k, v in data.items()}
    if isinstance(out.get("custom"), dict):
        out["custom"] = {k: mask_value(k, v) if k in masked else v for k, v in out["custom"].items()}
    return out
