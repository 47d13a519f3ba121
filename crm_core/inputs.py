"""Input limits in one place: what a request may carry before any view sees it.

- **Body size**: ``MAX_CONTENT_LENGTH`` (a setting); a larger body answers 413 (JSON on API paths).
- **JSON bodies** are parsed by :func:`loads`, for ``request.get_json`` (the app's JSON provider,
  :class:`JSONProvider`) and for ``blp.arguments`` (the webargs :class:`Parser` the core's
  ``Blueprint`` uses): malformed JSON or nesting deeper than ``MAX_JSON_DEPTH`` answers 400; a
  number that is not a 64-bit integer or a finite float (a 5,000-digit integer, ``1e400``,
  ``NaN``), a NUL character or an unpaired surrogate (``"\\ud800"``) answers 422 naming the field.
- **Parsed arguments** (query strings, JSON, after marshmallow): integers are 64-bit signed and
  ``page`` at most ``MAX_PAGE``, else 422 naming the parameter.
- **Path ids**: the ``int`` URL converter is bounded to 64-bit signed (:class:`Int64Converter`),
  so ``/deals/1924501434359078161743872`` is a 404 like any id that does not exist.
- **Strings** stored in a bounded column: :func:`check_length` (the column's ``max_length``).
- **Error bodies** keep the first ``MAX_FIELD_ERRORS`` field errors and say how many there were
  (``crm_core.errors.cap_errors``, applied to every error).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask.json.provider import DefaultJSONProvider
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter

from .errors import MAX_FIELD_ERRORS, APIError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_JSON_DEPTH = 64
MAX_PAGE = 10**9

_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64_DIGITS = 19  # len(str(2**63 - 1))


class _Refused:
    """Stands in for a JSON number we cannot take, so the walk can name its field."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


_OUT_OF_RANGE = "Number out of range (integers are 64-bit signed)."
_NOT_FINITE = "Number out of range (not a finite number)."


def _parse_int(text: str):
    # never int() a huge literal: Python refuses more than 4,300 digits with a ValueError
    if len(text) - text.startswith("-") > _INT64_DIGITS:
        return _Refused(_OUT_OF_RANGE)
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else _Refused(_OUT_OF_RANGE)


def _parse_float(text: str):
    value = float(text)
    return value if math.isfinite(value) else _Refused(_NOT_FINITE)


def _parse_constant(text: str):  # NaN, Infinity, -Infinity: not JSON
    return _Refused(_NOT_FINITE)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        # strict UTF-8: json.loads(bytes) would let encoded surrogates through ("surrogatepass")
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(
            f"Bytes decoding error: {exc.reason}", doc=repr(data[:100]), pos=exc.start
        ) from None


def _field(path: tuple) -> str:
    return ".".join(map(str, path)) or "_schema"


def string_problem(text: str, check_nul: bool = True) -> str | None:
    """Why ``text`` cannot be stored (a NUL character, an unpaired surrogate), or None."""
    if check_nul and "\x00" in text:
        return "Contains a NUL character."
    if _SURROGATE.search(text):
        return "Contains an unpaired surrogate (not valid Unicode)."
    return None


def loads(data: bytes | str) -> Any:
    """Parse a JSON request body within the limits above.

    Raises ``json.JSONDecodeError`` when it is not JSON (callers answer 400 as before), an
    ``APIError`` 400 when nested too deeply and 422 naming the fields that hold numbers out of
    range, NUL characters or unpaired surrogates.
    """
    text = _decode(data)
    try:
        value = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except RecursionError:
        raise APIError(
            400,
            f"JSON nested too deeply (at most {MAX_JSON_DEPTH} levels).",
            errors={"_schema": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]},
        ) from None
    escapes = "\\u" in text
    check_json(value, check_strings=escapes, check_nul=escapes and not _view_checks_nul())
    return value


def checks_nul_itself(view):
    """Mark a view (function or MethodView class) that refuses NUL characters itself, item by
    item (an ingestion batch keeps its good events): its JSON body reaches it with them kept.
    Every other limit still applies."""
    view.crm_checks_nul_itself = True
    return view


def _view_checks_nul() -> bool:
    from flask import current_app, has_request_context, request

    if not has_request_context() or request.endpoint is None:
        return False
    view = current_app.view_functions.get(request.endpoint)
    return bool(
        getattr(view, "crm_checks_nul_itself", False)
        or getattr(getattr(view, "view_class", None), "crm_checks_nul_itself", False)
    )


def check_json(value: Any, check_strings: bool = True, check_nul: bool = True) -> None:
    """Walk parsed JSON (without recursion): 400 when nested deeper than ``MAX_JSON_DEPTH``, 422
    naming each field (first ``MAX_FIELD_ERRORS``) that holds a refused number, a NUL character or
    an unpaired surrogate. Field names follow :func:`reject_nul` (``a.b``; list items take their
    list's name)."""
    errors: dict[str, list[str]] = {}
    stack = [(value, (), 1)]
    while stack and len(errors) < MAX_FIELD_ERRORS:
        node, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise APIError(
                400,
                f"JSON nested too deeply (at most {MAX_JSON_DEPTH} levels).",
                errors={"_schema": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]},
            )
        if isinstance(node, dict):
            for key, item in node.items():
                if check_strings and (problem := string_problem(key, check_nul)):
                    errors.setdefault(_field(path), []).append(f"A key {problem[0].lower()}{problem[1:]}")
                if isinstance(item, dict | list):
                    stack.append((item, (*path, key), depth + 1))
                else:
                    _check_scalar(item, (*path, key), errors, check_strings, check_nul)
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, dict | list):
                    stack.append((item, path, depth + 1))
                else:
                    _check_scalar(item, path, errors, check_strings, check_nul)
        else:
            _check_scalar(node, path, errors, check_strings, check_nul)
    if errors:
        raise APIError(422, "Invalid input: " + ", ".join(sorted(errors)) + ".", errors=errors)


def _check_scalar(item, path: tuple, errors: dict, check_strings: bool, check_nul: bool = True) -> None:
    if isinstance(item, _Refused):
        problem = item.message
    elif check_strings and isinstance(item, str):
        problem = string_problem(item, check_nul)
    else:
        return
    if problem:
        messages = errors.setdefault(_field(path), [])
        if problem not in messages:
            messages.append(problem)


def reject_nul(data: Any, path: str = "") -> None:
    """422 naming the field when any string in ``data`` holds a NUL character (PostgreSQL cannot
    store one; SQLite would truncate what other tools read) or an unpaired surrogate (no database
    can store it as UTF-8). For input that does not come through :func:`loads` (CSV rows, forms)."""
    if isinstance(data, str):
        problem = string_problem(data)
        if problem:
            message = "NUL characters are not allowed." if "NUL" in problem else "Invalid text."
            raise APIError(422, message, errors={path or "_schema": [problem]})
    elif isinstance(data, dict):
        for key, value in data.items():
            reject_nul(key, path or "_schema")
            reject_nul(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list | tuple):
        for value in data:
            reject_nul(value, path)


def check_length(value: str, column, field: str) -> str:
    """``value`` when it fits ``column`` (a peewee field with ``max_length``), else 422 naming
    ``field``; the limit is the column's, so the API and the schema cannot disagree."""
    limit = getattr(column, "max_length", None)
    if limit and isinstance(value, str) and len(value) > limit:
        raise APIError(422, f"Invalid {field}.", errors={field: [f"Longer than maximum length {limit}."]})
    return value


def check_args(data: Any, location: str | None = None) -> None:
    """422 naming the argument when a parsed integer is outside 64-bit signed (or ``page``
    beyond ``MAX_PAGE``): what the database cannot compare or offset by."""
    if not isinstance(data, dict):
        # flask-smorest's pagination loads into a PaginationParameters object
        data = (
            {k: v for k, v in vars(data).items() if k in ("page", "page_size")}
            if hasattr(data, "page")
            else {}
        )
    errors: dict[str, list[str]] = {}
    stack = [(data, ())]
    while stack:
        node, path = stack.pop()
        items = node.items() if isinstance(node, dict) else ((None, v) for v in node)
        for key, item in items:
            where = (*path, key) if key is not None else path
            if isinstance(item, dict | list | tuple):
                stack.append((item, where))
            elif isinstance(item, int) and not isinstance(item, bool):
                if not INT64_MIN <= item <= INT64_MAX:
                    errors.setdefault(_field(where), []).append(_OUT_OF_RANGE)
                elif where == ("page",) and item > MAX_PAGE:
                    errors.setdefault("page", []).append(f"Must be between 1 and {MAX_PAGE}.")
    if errors:
        raise APIError(422, "Invalid input: " + ", ".join(sorted(errors)) + ".", errors=errors)


class Parser(FlaskParser):
    """webargs parser of ``blp.arguments``: JSON through :func:`loads`, results through
    :func:`check_args`."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return webargs_core.missing
        return loads(req.get_data(cache=True))

    def parse(self, argmap, req=None, *args, **kwargs):
        data = super().parse(argmap, req, *args, **kwargs)
        check_args(data, kwargs.get("location"))
        return data


class JSONProvider(DefaultJSONProvider):
    """The app's JSON provider: ``request.get_json`` parses with :func:`loads` (a malformed body
    stays a 400 from Flask; limits answer 400/422 as above)."""

    def loads(self, s, **kwargs):
        if kwargs:
            return super().loads(s, **kwargs)
        return loads(s)


class Int64Converter(IntegerConverter):
    """``<int:...>`` bounded to 64-bit signed ids: beyond that the route does not match (404)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002
        super().__init__(
            map,
            fixed_digits=fixed_digits,
            min=min,
            max=INT64_MAX if max is None else max,
            signed=signed,
        )

    def to_python(self, value: str):
        if len(value.lstrip("-")) > _INT64_DIGITS:  # never int() thousands of digits
            from werkzeug.routing import ValidationError

            raise ValidationError()
        return super().to_python(value)


def install(app) -> None:
    """Wire the limits into ``app``: call before any blueprint is registered (the URL converter
    applies to rules added afterwards)."""
    app.url_map.converters["int"] = Int64Converter
    app.json = JSONProvider(app)
