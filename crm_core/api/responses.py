"""The JSON answers of the REST API: the one ``json_response``, ETags and conditional requests.

Views answer through ``@blp.response`` schemas where the data needs no per-request treatment;
records are dumped, masked for the caller (``permissions.mask``) and sent with ``json_response``,
because their ETag is computed from the masked body (two users with different field rules never
share a validator).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, request

from ..errors import APIError


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON response (UTF-8, non-ASCII kept as is) of data already dumped."""
    body = json.dumps(data, ensure_ascii=False, default=str)
    response = Response(body, status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def etag_of(data: Any) -> str:
    """A strong ETag (quoted) for a dumped, masked representation."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f'"{digest}"'


def etags(header: str) -> list[str]:
    """The entity tags of an ``If-Match`` / ``If-None-Match`` header (weak ones compared strongly)."""
    return [part.strip().removeprefix("W/") for part in header.split(",") if part.strip()]


def check_if_match(current_etag: str) -> None:
    """412 when the request carries an ``If-Match`` that does not match ``current_etag``."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = etags(header)
    if "*" in tags or current_etag in tags:
        return
    raise APIError(
        412,
        "The record changed since you read it (If-Match does not match its ETag); read it again.",
        etag=current_etag,
    )


def not_modified(response: Response) -> Response:
    """304 (with the ETag only) when ``If-None-Match`` matches ``response``'s ETag, else ``response``."""
    tag = response.headers["ETag"]
    if tag in etags(request.headers.get("If-None-Match", "")):
        return Response(status=304, headers={"ETag": tag})
    return response
