"""``register_crud``: the REST collection every object gets (core objects, custom objects, plugins).

One call mounts five endpoints on a flask-smorest ``Blueprint``::

    from crm_core.api.crud import register_crud

    crud = register_crud(blp, "loyalty.members", Member, MemberSchema, path="/members")

| method and path            | answer                                                          |
|----------------------------|-----------------------------------------------------------------|
| ``GET    {path}``          | 200, a JSON array of the page; ``X-Pagination`` header           |
| ``POST   {path}``          | 201 + ``Location`` + ``ETag``; ``Idempotency-Key`` replays       |
| ``GET    {path}/<id>``     | 200 + ``ETag`` (304 on a matching ``If-None-Match``)             |
| ``PATCH  {path}/<id>``     | 200 + new ``ETag``; 412 when ``If-Match`` is stale               |
| ``DELETE {path}/<id>``     | 204; 412 when ``If-Match`` is stale                              |

Lists take the grammar of :mod:`crm_core.records.listing`. Reads go through
``permissions.scoped`` / ``permissions.get_record`` (row scopes; 404 outside the read scope, 403
when readable but not writable), writes through :mod:`crm_core.records.service` (permissions,
custom fields, audit and events in one transaction), and every output through
``permissions.mask`` (hidden fields removed). The ETag is computed from the masked output, so
two users with different field rules never share a validator.

Idempotency keys are stored per user (``idempotency_key`` table) for
``IDEMPOTENCY_TTL`` seconds; a repeat with the same key and the same request answers with the
first response (plus ``Idempotent-Replayed: true``) and creates nothing; the same key with a
different request answers 422.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import peewee as pw
from flask import Response, request, url_for
from flask.views import MethodView

from ..db import database, utcnow, write_transaction
from ..errors import APIError
from ..records import listing, service
from ..records.models import IdempotencyKey

IDEMPOTENCY_TTL = 24 * 3600
IDEMPOTENCY_HEADER = "Idempotency-Key"

LIST_PARAMETERS = [
    {"in": "query", "name": "page", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {
        "in": "query",
        "name": "page_size",
        "schema": {"type": "integer", "minimum": 1, "maximum": listing.MAX_PAGE_SIZE, "default": 20},
    },
    {
        "in": "query",
        "name": "sort",
        "schema": {"type": "string"},
        "description": "Comma-separated fields, '-' for descending: '-created_at,name'.",
    },
    {"in": "query", "name": "q", "schema": {"type": "string"}, "description": "Search the text fields."},
]
PAGINATION_HEADER_DOC = {
    "X-Pagination": {
        "description": "JSON: total, total_pages, first_page, last_page, page, page_size, "
        "previous_page, next_page",
        "schema": {"type": "string"},
    }
}


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON response (UTF-8, non-ASCII kept as is)."""
    body = json.dumps(data, ensure_ascii=False, default=str)
    response = Response(body, status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def etag_of(data: Any) -> str:
    """A strong ETag (quoted) for a dumped, masked representation."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f'"{digest}"'


def _etags(header: str) -> list[str]:
    return [part.strip().removeprefix("W/") for part in header.split(",") if part.strip()]


def check_if_match(current_etag: str) -> None:
    """412 when the request carries an ``If-Match`` that does not match ``current_etag``."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = _etags(header)
    if "*" in tags or current_etag in tags:
        return
    raise APIError(
        412,
        "The record changed since you read it (If-Match does not match its ETag); read it again.",
        etag=current_etag,
    )


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.path.encode())
    digest.update(b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def idempotent(actor, run: Callable[[], Response]) -> Response:
    """Run ``run`` once per ``Idempotency-Key`` (per user); a repeat gets the stored response.

    Without the header, just runs ``run``. The record and the stored response are written in one
    transaction, so a failure stores nothing and a concurrent duplicate gets 409 rather than a
    second record.
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        with write_transaction():
            return run()
    key = key.strip()
    if not 1 <= len(key) <= 200 or "\x00" in key:
        raise APIError(400, "Idempotency-Key must be 1 to 200 characters.")
    fingerprint = _fingerprint()
    cutoff = utcnow() - dt.timedelta(seconds=IDEMPOTENCY_TTL)
    stored = IdempotencyKey.get_or_none(IdempotencyKey.user_id == actor.id, IdempotencyKey.key == key)
    if stored is not None and stored.created_at >= cutoff:
        if stored.fingerprint != fingerprint:
            raise APIError(
                422,
                "This Idempotency-Key was already used for a different request.",
                errors={IDEMPOTENCY_HEADER: ["Already used for a different request."]},
            )
        headers = {"Idempotent-Replayed": "true"}
        if stored.location:
            headers["Location"] = stored.location
        response = Response(stored.body, status=stored.status, mimetype="application/json")
        for name, value in headers.items():
            response.headers[name] = value
        return response
    with write_transaction():
        if stored is not None:  # expired: the key may be used again
            stored.delete_instance()
        response = run()
        if 200 <= response.status_code < 300:
            try:
                with database.atomic():
                    IdempotencyKey.create(
                        user_id=actor.id,
                        key=key,
                        fingerprint=fingerprint,
                        status=response.status_code,
                        body=response.get_data(as_text=True),
                        location=response.headers.get("Location"),
                    )
            except pw.IntegrityError:
                raise APIError(
                    409, "A request with this Idempotency-Key is being processed; retry shortly."
                ) from None
    return response


def _instance(schema, **kwargs):
    if isinstance(schema, type):
        return schema(**kwargs)
    if kwargs:
        return type(schema)(**kwargs)
    return schema


@dataclass
class Crud:
    """What ``register_crud`` mounted, with the helpers its views use (for extra endpoints)."""

    resource: str
    model: type[pw.Model]
    schema: Any
    many_schema: Any
    prefetch: Callable[[list], None] | None = None
    write_options: dict = field(default_factory=dict)
    endpoint: str = ""
    options: Callable[[], dict] | None = None

    def list_options(self) -> dict:
        """Keyword arguments for ``listing.list_query`` that this collection's list uses
        (base query, search fields, extra filters such as ``tag``, default sort)."""
        return self.options() if self.options else {}

    def get(self, record_id, actor, action: str = "read", lock: bool = False):
        """The record within the actor's scope (404 outside the read scope, 403 if not allowed).
        ``lock``: with its row lock, inside ``db.write_transaction()`` (see ``permissions.get_record``)."""
        from .. import permissions

        return permissions.get_record(self.model, record_id, actor, self.resource, action, lock=lock)

    def dump(self, records, actor):
        """Dump one record or a list, prefetching relations in one query and masking hidden fields."""
        from .. import permissions

        many = isinstance(records, list | tuple)
        rows = list(records) if many else [records]
        if self.prefetch and rows:
            self.prefetch(rows)
        data = self.many_schema.dump(rows) if many else self.schema.dump(rows[0])
        return permissions.mask(actor, self.resource, data)

    def detail_response(self, record, actor, status: int = 200, headers: dict | None = None) -> Response:
        """The single-record response with its ETag."""
        data = self.dump(record, actor)
        return json_response(data, status, {"ETag": etag_of(data), **(headers or {})})


def register_crud(
    blp,
    resource: str,
    model: type[pw.Model],
    schema,
    *,
    path: str | None = None,
    create_schema=None,
    update_schema=None,
    name: str | None = None,
    methods: Iterable[str] = ("list", "create", "read", "update", "delete"),
    query: Callable[[], Any] | None = None,
    search_fields: Callable[[], list] | list | None = None,
    filter_fields: Iterable[str] | None = None,
    extra_filters: listing.ExtraFilters | None = None,
    default_sort: str = listing.DEFAULT_SORT,
    prefetch: Callable[[list], None] | None = None,
    before_save: Callable | None = None,
    after_save: Callable | None = None,
    before_delete: Callable | None = None,
    serialize: Callable[[pw.Model], dict] = service.record_dict,
    description: str | None = None,
) -> Crud:
    """Mount list/create/detail/update/delete for ``model`` on ``blp`` and return a ``Crud``.

    - ``resource``: the permission resource and entity name (``customers``, ``objects.course``).
    - ``schema``: a marshmallow schema (class or instance) that loads the create body and dumps
      records; ``create_schema`` / ``update_schema`` override the input schemas (the default update
      schema is ``schema(partial=True)``).
    - ``path``: the collection path under the blueprint's prefix (default ``/<resource>``); the
      item path is ``{path}/<int:record_id>``. ``name`` prefixes the endpoint names.
    - ``methods``: which of ``list``, ``create``, ``read``, ``update``, ``delete`` to mount.
    - ``query``: a function returning the base select (joins for the list); ``search_fields``,
      ``filter_fields``, ``extra_filters``, ``default_sort``: passed to ``listing.list_query``.
    - ``prefetch(records)``: loads relations for a page in a constant number of queries (no N+1).
    - ``before_save``, ``after_save``, ``before_delete``, ``serialize``: passed to
      ``service.create/update/delete``.

    Every view requires a bearer token (``crm_core.auth``) and checks permissions itself.
    """
    from ..auth import current_actor

    methods = set(methods)
    path = path or f"/{resource.replace('.', '/')}"
    name = name or resource.replace(".", "_")
    dump_schema = _instance(schema)
    many_schema = _instance(schema, many=True)
    load_schema = _instance(create_schema or schema)
    if update_schema is not None:
        patch_schema = _instance(update_schema)
    else:
        # a named subclass, so the OpenAPI document gets a distinct "<Name>Update" component
        base = schema if isinstance(schema, type) else type(schema)
        patch_schema = type(base.__name__.removesuffix("Schema") + "UpdateSchema", (base,), {})(partial=True)
    write = {"before_save": before_save, "after_save": after_save, "serialize": serialize}
    crud = Crud(
        resource, model, dump_schema, many_schema, prefetch, write, endpoint=f"{blp.name}.{name}_item"
    )
    label = description or resource

    def list_options():
        fields = search_fields() if callable(search_fields) else search_fields
        return {
            "query": query() if query else None,
            "search_fields": fields,
            "filter_fields": filter_fields,
            "extra_filters": extra_filters,
            "default_sort": default_sort,
        }

    crud.options = list_options

    collection_views: dict[str, Callable] = {}
    item_views: dict[str, Callable] = {}
    has_item = bool({"read", "update", "delete"} & methods)

    if "list" in methods:

        @blp.doc(parameters=LIST_PARAMETERS, summary=f"List {label}")
        @blp.response(200, many_schema, headers=PAGINATION_HEADER_DOC)
        def get(self):
            """One page of the collection, filtered and sorted (see the list API grammar)."""
            actor = current_actor()
            page, page_size = listing.page_params(request.args)
            rows, total = listing.list_query(model, resource, request.args, actor, **list_options())
            data = crud.dump(list(rows), actor)
            meta = listing.pagination_header(total, page, page_size)
            return json_response(data, 200, {"X-Pagination": json.dumps(meta)})

        collection_views["get"] = get

    if "create" in methods:

        @blp.arguments(load_schema)
        @blp.response(201, dump_schema)
        @blp.doc(summary=f"Create one of {label}")
        def post(self, data):
            """Create a record (201). Send ``Idempotency-Key`` to make retries safe."""
            actor = current_actor()

            def run():
                record = service.create(resource, model, data, actor, **write)
                headers = {"Location": url_for(crud.endpoint, record_id=record.get_id())} if has_item else {}
                return crud.detail_response(record, actor, 201, headers)

            return idempotent(actor, run)

        collection_views["post"] = post

    if "read" in methods:

        @blp.response(200, dump_schema)
        @blp.doc(summary=f"Read one of {label}")
        def get_item(self, record_id):
            """One record with its ETag (304 when ``If-None-Match`` matches)."""
            actor = current_actor()
            record = crud.get(record_id, actor)
            response = crud.detail_response(record, actor)
            if response.headers["ETag"] in _etags(request.headers.get("If-None-Match", "")):
                return Response(status=304, headers={"ETag": response.headers["ETag"]})
            return response

        item_views["get"] = get_item

    if "update" in methods:

        @blp.arguments(patch_schema)
        @blp.response(200, dump_schema)
        @blp.alt_response(412, description="If-Match does not match the current ETag")
        @blp.doc(summary=f"Update one of {label}")
        def patch(self, data, record_id):
            """Change some fields. Send ``If-Match: <ETag>`` to refuse lost updates (412)."""
            actor = current_actor()
            # the row is read under its lock (FOR UPDATE; BEGIN IMMEDIATE on SQLite), so the ETag
            # compared is the one of the row this update changes, and concurrent writers queue
            with write_transaction():
                record = crud.get(record_id, actor, "update", lock=True)
                if request.headers.get("If-Match") is not None:
                    check_if_match(etag_of(crud.dump(record, actor)))
                record = service.update(resource, record, data, actor, **write)
            return crud.detail_response(record, actor)

        item_views["patch"] = patch

    if "delete" in methods:

        @blp.response(204)
        @blp.alt_response(412, description="If-Match does not match the current ETag")
        @blp.doc(summary=f"Delete one of {label}")
        def delete(self, record_id):
            """Delete the record (204)."""
            actor = current_actor()
            with write_transaction():
                record = crud.get(record_id, actor, "delete", lock=True)
                if request.headers.get("If-Match") is not None:
                    check_if_match(etag_of(crud.dump(record, actor)))
                service.delete(resource, record, actor, before_delete=before_delete, serialize=serialize)
            return Response(status=204)

        item_views["delete"] = delete

    # MethodView collects its HTTP methods when the class is created, so build the classes last
    if collection_views:
        view = type(f"{name}_collection", (MethodView,), {**collection_views, "crm_collection": crud})
        blp.route(path, endpoint=f"{name}_collection")(view)
    if has_item:
        view = type(f"{name}_item", (MethodView,), {**item_views, "crm_collection": crud})
        blp.route(f"{path}/<int:record_id>", endpoint=f"{name}_item")(view)
    return crud
