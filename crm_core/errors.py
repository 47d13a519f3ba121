"""One error format for the whole app: ``{"code", "status", "message", "errors"}``.

API paths always answer JSON; web pages answer HTML unless the client asks for JSON. Unexpected
exceptions become a 500 with no internals in the body (they are logged with the request id).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, g, has_app_context, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

#: Field errors kept in an error body; the rest are counted (``error_count``).
MAX_FIELD_ERRORS = 50


def cap_errors(errors: Any) -> tuple[Any, int | None]:
    """``(errors, count)``: at most ``MAX_FIELD_ERRORS`` field errors of a dict, and how many
    there were when some were left out (None otherwise)."""
    if isinstance(errors, dict) and len(errors) > MAX_FIELD_ERRORS:
        kept = dict(item for _, item in zip(range(MAX_FIELD_ERRORS), errors.items(), strict=False))
        return kept, len(errors)
    return errors, None


log = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/oauth/")
#: the summary of a 422 that carries no message of its own (translated like any message: the
#: filled-in text is matched against these msgids, see ``crm_core.web.messages``)
INVALID_INPUT = "Invalid input: %(fields)s."
INVALID_INPUT_MORE = "Invalid input: %(fields)s and %(count)s more."
NOT_FOUND = "Not found."


class APIError(HTTPException):
    """Raise from any layer to answer with a JSON error: ``APIError(409, "duplicate", errors=...)``.

    ``errors`` holds per-field messages; ``extra`` adds top-level keys (e.g. ``existing_id``).
    """

    def __init__(
        self, code: int, message: str, errors: dict | None = None, headers: dict | None = None, **extra
    ):
        super().__init__(description=message)
        self.code = code
        self.message = message
        self.data = {"message": message, "errors": errors or {}, "headers": headers or {}, "extra": extra}

    @property
    def name(self) -> str:  # werkzeug looks the phrase up from the code
        from werkzeug.http import HTTP_STATUS_CODES

        return HTTP_STATUS_CODES.get(self.code, "Error")


def wants_json() -> bool:
    """True when the current request should get a JSON error."""
    if request.path.startswith(API_PREFIXES) or request.path.rstrip("/") in ("/api", "/oauth"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_payload(error: HTTPException) -> tuple[dict, dict]:
    """The JSON body and extra headers for an HTTP error."""
    data = getattr(error, "data", None) or {}
    message = data.get("message") or error.description or error.name
    if error.code == 404 and message == (InternalServerError.description or ""):
        message = NOT_FOUND
    body = {"code": error.code, "status": error.name, "message": message, "errors": {}}
    errors = data.get("errors") or data.get("messages")
    if errors:
        # webargs nests by location ({"json": {...}}); clients want the fields themselves
        if isinstance(errors, dict) and set(errors) <= {
            "json",
            "query",
            "form",
            "headers",
            "files",
            "view_args",
        }:
            flat = {}
            for part in errors.values():
                flat.update(part if isinstance(part, dict) else {"_schema": part})
            errors = flat
        errors, count = cap_errors(errors)
        body["errors"] = errors
        if count is not None:  # a 900,000-key body must not get a 65 MB answer
            body["error_count"] = count
            message = message if len(message) <= 1000 else message[:1000] + "..."
            body["message"] = message
        if message == error.description and error.code == 422 and isinstance(errors, dict):
            fields = ", ".join(sorted(map(str, errors)))
            body["message"] = (
                INVALID_INPUT_MORE % {"fields": fields, "count": count - len(errors)}
                if count is not None
                else INVALID_INPUT % {"fields": fields}
            )
        if error.code == 400 and errors == {"_schema": ["Invalid JSON body."]}:
            body["message"] = "Malformed JSON body."
    body.update(data.get("extra") or {})
    headers = dict(data.get("headers") or {})
    if error.code == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = str(getattr(error, "retry_after", 60))
    return body, headers


def localise(body: dict, labels: bool = False) -> dict:
    """The error body with its message and per-field messages in the request's language (the
    workbench user's saved one, else ``Accept-Language``; English when none is given). The keys,
    ``code`` and ``status`` stay as they are: clients match on those, people read the messages.
    Codes quoted in a message (``Must be one of: low, high.``) stay codes unless ``labels``.

    The translator is the app's ``extensions["crm_messages"]`` (the workbench installs its
    catalogues there at startup): the error format must not depend on the layers above it."""
    messages = current_app.extensions.get("crm_messages") if has_app_context() else None
    if messages is None:  # no workbench, no catalogues: the messages as written
        return body
    body = dict(body)
    body["message"] = messages.translate_message(body.get("message"), labels=labels)
    if body.get("errors"):
        body["errors"] = messages.translate_errors(body["errors"], labels=labels)
    return body


def handle_http_exception(error: HTTPException):
    """Render any HTTP error as JSON (API) or an HTML page (workbench)."""
    if error.code is None:
        return error
    body, headers = error_payload(error)
    body = localise(body, labels=not wants_json())
    if wants_json():
        response = jsonify(body)
    else:
        try:
            title = localise({"message": error.name})["message"]
            response = render_template("crm/error.html", error=body, title=title), error.code
            response = _to_response(response)
        except Exception:  # the workbench may not be installed; never fail while failing
            response = jsonify(body)
    response.status_code = error.code
    for key, value in headers.items():
        response.headers[key] = value
    if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


_UNAVAILABLE = ("connect", "connection", "database is locked", "server closed", "terminating", "timeout")


def handle_database_unavailable(error: Exception):
    """The database cannot be reached or is busy: 503 (retry later), not a 500 that looks like a
    bug. Other operational errors (a wrong column on SQLite) are bugs and answer 500."""
    if not any(marker in str(error).lower() for marker in _UNAVAILABLE):
        return handle_unexpected(error, database_checked=True)
    log.error("database unavailable (request %s): %s", getattr(g, "request_id", "-"), error)
    return handle_http_exception(
        APIError(503, "The database is unavailable; try again shortly.", headers={"Retry-After": "5"})
    )


def handle_unexpected(error: Exception, database_checked: bool = False):
    """Log an uncaught exception with the request id and answer a bare 500."""
    import peewee

    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    if not database_checked and isinstance(error, peewee.OperationalError | peewee.InterfaceError):
        return handle_database_unavailable(error)
    if isinstance(error, OverflowError | peewee.DataError):
        # a value the database cannot hold (a number beyond 64 bits, text longer than its
        # column) that got past the input checks: the client's input, not a bug to hide as a 500
        log.warning("value out of range (request %s): %s", getattr(g, "request_id", "-"), error)
        return handle_http_exception(
            APIError(
                422,
                "A value is out of range or too long for its field.",
                errors={"_schema": ["Out of range."]},
            )
        )
    log.exception("unhandled error (request %s)", getattr(g, "request_id", "-"))
    return handle_http_exception(InternalServerError("An unexpected error occurred; it has been logged."))


def _to_response(rv):
    from flask import make_response

    return make_response(rv)


def register(app: Flask) -> None:
    """Install the handlers on ``app`` (after flask-smorest, so ours win)."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
