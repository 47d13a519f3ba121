"""A Babel extractor for the core's Python: the gettext calls, plus the messages the API answers with.

Error and validation messages stay plain English where they are raised (``APIError(422, "...")``,
``ValidationError("...")``, ``abort(400, description="...")``, ``default_error_messages``), so
logs, the stored reports of tasks and an API client without ``Accept-Language`` see English;
:mod:`crm_core.web.messages` translates them when an error is rendered. This extractor puts those
strings into the catalogue without a marker at every raise: an f-string becomes a msgid with
named placeholders (``f"Unknown field(s): {names}."`` -> ``Unknown field(s): %(names)s.``) that the
translator matches against the formatted text. The built-in messages of marshmallow are added
when ``crm_core/web/messages.py`` is extracted. Name it in a ``babel.cfg``::

    [extractors]
    crm = crm_core.web.catalog_extract:extract
    [crm: crm_core/**.py]
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from babel.messages.extract import extract_python

#: calls whose message argument is shown to a user: name -> (positional index, keyword)
MESSAGE_CALLS = {
    "APIError": (1, "message"),
    "ValidationError": (0, "message"),
    "abort": (1, "description"),
    "FormErrors": (1, "message"),
    "_bad": (1, "message"),  # crm_core.records.listing: a refused query parameter
}
#: keys of dict literals whose values people read: a job's description, a capability's label
SHOWN_KEYS = {"description", "label"}
#: werkzeug's HTTP exceptions take the message as ``description``
HTTP_EXCEPTIONS = {
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "Gone",
    "RequestEntityTooLarge",
    "UnprocessableEntity",
    "TooManyRequests",
    "InternalServerError",
    "ServiceUnavailable",
}
MESSAGE_DICTS = {"default_error_messages", "error_messages"}
#: lists that collect messages: ``problems.append("...")``, ``errors.setdefault(k, []).append(...)``
MESSAGE_LISTS = {"errors", "problems", "messages", "refused"}
_WORD = re.compile(r"[A-Za-z]{2,}")
#: a module constant holding a message: a capitalised sentence ending in a full stop
_SENTENCE = re.compile(r"[A-Z][a-z]+ [^\n]*[.?!]")


def placeholder_name(node: ast.expr) -> str:
    """A readable placeholder name for an f-string's ``{expression}``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return placeholder_name(node.func) if not isinstance(node.func, ast.Attribute) else "value"
    if isinstance(node, ast.Subscript):
        return placeholder_name(node.value)
    return "value"


def msgid_of(node: ast.expr) -> str | None:
    """The msgid of a string literal or f-string node (None for anything else)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts, seen = [], {}
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value).replace("%", "%%"))
            elif isinstance(value, ast.FormattedValue):
                name = re.sub(r"\W", "_", placeholder_name(value.value)).strip("_") or "value"
                seen[name] = seen.get(name, 0) + 1
                parts.append(f"%({name}{seen[name] if seen[name] > 1 else ''})s")
        return "".join(parts)
    return None


def _strings(node: ast.expr) -> Iterator[tuple[int, str]]:
    """Messages in an argument: a string, or the strings inside a dict/list of messages."""
    text = msgid_of(node)
    if text is not None:
        yield node.lineno, text
    elif isinstance(node, ast.Dict):
        for value in node.values:
            yield from _strings(value)
    elif isinstance(node, ast.List | ast.Tuple):
        for item in node.elts:
            yield from _strings(item)


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _collects_messages(node: ast.expr) -> bool:
    """``node`` is a list of messages (``problems``, ``errors.setdefault(...)``, ``out[k]``)."""
    while isinstance(node, ast.Call | ast.Subscript | ast.Attribute):
        if isinstance(node, ast.Call) and _call_name(node) == "setdefault":
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return isinstance(node, ast.Name) and node.id in MESSAGE_LISTS


def _returns_problems(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """String returns of ``*_problem(s)`` / ``*_error(s)`` functions (they return a message)."""
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef) and func.name.rstrip("s").endswith(("problem", "error")):
            for node in ast.walk(func):
                if isinstance(node, ast.Return) and node.value is not None:
                    yield from _strings(node.value)


def error_messages(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``(line, msgid)`` of every user-facing message literal in a module."""
    yield from _returns_problems(tree)
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            text = msgid_of(node.value)
            if text and all(t.id.isupper() for t in node.targets) and _SENTENCE.fullmatch(text):
                yield node.lineno, text
    # OpenAPI documentation (``metadata={"description": ...}``) is for developers, in English
    documentation = {
        id(kw.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "metadata"
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) == "append" and node.args:
            if isinstance(node.func, ast.Attribute) and _collects_messages(node.func.value):
                yield from _strings(node.args[0])
            continue
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in MESSAGE_CALLS:
                index, keyword = MESSAGE_CALLS[name]
            elif name in HTTP_EXCEPTIONS:
                index, keyword = 0, "description"
            else:
                continue
            if len(node.args) > index:
                yield from _strings(node.args[index])
            for kw in node.keywords:
                if kw.arg in (keyword, "errors") or kw.arg in MESSAGE_DICTS:
                    yield from _strings(kw.value)
        elif isinstance(node, ast.Dict) and id(node) not in documentation:
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in SHOWN_KEYS:
                    yield from _strings(value)
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in MESSAGE_DICTS for t in targets):
                yield from _strings(node.value)


def _with_operators(cls, texts: list) -> list:
    """``Range``'s ``Must be {min_op} {{min}}.`` spelled out with each operator it formats in
    (``Must be greater than {min}.``): a translation needs the whole sentence, not a fragment."""
    ops = {"min_op": ("message_gte", "message_gt"), "max_op": ("message_lte", "message_lt")}
    out = []
    for text in texts:
        variants = [text]
        for placeholder, names in ops.items():
            if isinstance(text, str) and "{" + placeholder + "}" in text:
                variants = [
                    v.replace("{" + placeholder + "}", getattr(cls, n)) for v in variants for n in names
                ]
        out += variants
    return out


def marshmallow_messages() -> list[str]:
    """marshmallow's built-in field and validator messages, ``{min}`` written ``%(min)s``."""
    import inspect

    from marshmallow import fields, validate

    found: list[str] = []
    for module in (fields, validate):
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            texts = list(getattr(cls, "default_error_messages", {}).values())
            texts += [v for k, v in vars(cls).items() if k.startswith(("message", "default_message"))]
            for text in _with_operators(cls, texts):
                if isinstance(text, str):
                    text = re.sub(r"\{\{(\w+)\}\}", r"{\1}", text.replace("%", "%%"))
                    msgid = re.sub(r"\{(\w+)(![rsa])?\}", r"%(\1)s", text)
                    if msgid not in found:
                        found.append(msgid)
    from marshmallow.schema import Schema

    for text in Schema._default_error_messages.values():
        if text not in found:
            found.append(text)
    return found


#: the HTTP errors a workbench user or an API client meets: their phrase and werkzeug's text
HTTP_CODES = (400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429, 500, 503)


def http_messages() -> list[str]:
    """werkzeug's status phrases and default descriptions of :data:`HTTP_CODES`."""
    from werkzeug.exceptions import default_exceptions
    from werkzeug.http import HTTP_STATUS_CODES

    found = []
    for code in HTTP_CODES:
        found.append(HTTP_STATUS_CODES[code])
        description = getattr(default_exceptions.get(code), "description", None)
        if description:
            found.append(description)
    return found


def extract(fileobj, keywords, comment_tags, options) -> Iterator[tuple]:
    """Babel extraction method (see the module docstring)."""
    source = fileobj.read()
    fileobj.seek(0)
    yield from extract_python(fileobj, keywords, comment_tags, options)
    text = source.decode(options.get("encoding", "utf-8")) if isinstance(source, bytes) else source
    tree = ast.parse(text)
    for lineno, msgid in error_messages(tree):
        if _WORD.search(re.sub(r"%\(\w+\)s", "", msgid)):  # words, not just placeholders
            yield lineno, "_", msgid, []
    if getattr(fileobj, "name", "").replace("\\", "/").endswith("crm_core/web/messages.py"):
        for msgid in marshmallow_messages() + http_messages():
            yield 1, "_", msgid, []
