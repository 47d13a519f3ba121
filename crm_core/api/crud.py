"""The REST collection every object gets (core objects, custom objects, plugins): ``CrudView``.

One call mounts five endpoints on a flask-smorest ``Blueprint``::

    from crm_core.api.crud import register_crud

    crud = register_crud(blp, "loyalty.members", Member, MemberSchema, path="/members")

or, to override a step, a subclass mounted with ``mount``::

    class Pets(CrudView):
        resource, model, schema, path = "zoo.pets", Pet, PetSchema, "/pets"

        def before_save(self, record, data, before):
            record.title = record.title.strip()

    crud = Pets.mount(blp)

| method and path            | answer                                                          |
|----------------------------|-----------------------------------------------------------------|
| ``GET    {path}``          | 200, a JSON array of the page; ``X-Pagination`` header           |
| ``POST   {path}``          | 201 + ``Location`` + ``ETag``; ``Idempotency-Key`` replays       |
| ``GET    {path}/<id>``     | 200 + ``ETag`` (304 on a matching ``If-None-Match``)             |
| ``PATCH  {path}/<id>``     | 200 + new ``ETag``; 412 when ``If-Match`` is stale               |
| ``DELETE {path}/<id>``     | 204; 412 when ``If-Match`` is stale                              |
| ``POST   {path}/<id>/<action>`` | custom actions (:mod:`crm_core.api.actions`)                |

Lists take the grammar of :mod:`crm_core.records.listing`, documented per collection in OpenAPI
(:mod:`crm_core.api.list_args`) and paged by :mod:`crm_core.api.paging`. Reads go through
``permissions.get_record`` (row scopes; 404 outside the read scope, 403 when readable but not
writable), writes through :mod:`crm_core.records.service` (permissions, custom fields, audit and
events in one transaction), and every output through ``permissions.mask`` (hidden fields removed,
including keys inside ``custom``). The ETag is computed from the masked output, so two users with
different field rules never share a validator. ``Idempotency-Key``: :mod:`crm_core.api.idempotency`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import peewee as pw
from flask import Response, request, url_for
from flask.views import MethodView

from .. import permissions
from ..db import write_transaction
from ..records import cursors, listing, service
from . import dumping
from .actions import register_action
from .crud_routes import collection_handlers, item_handlers
from .idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_TTL, idempotent  # noqa: F401  (public here)
from .list_args import BaseListArgsSchema, list_args_schema, list_parameters
from .paging import PAGINATION_HEADER_DOC, pagination_headers  # noqa: F401  (public here)
from .responses import check_if_match, etag_of, json_response, not_modified

#: the arguments every list takes, for lists whose fields are known only at run time
LIST_PARAMETERS = list_parameters(BaseListArgsSchema)
ALL_METHODS = ("list", "create", "read", "update", "delete")


def _instance(schema, **kwargs):
    if isinstance(schema, type):
        return schema(**kwargs)
    if kwargs:
        return type(schema)(**kwargs)
    return schema


@dataclass
class Crud:
    """What was mounted for one collection, with the helpers its views use (for extra endpoints).

    Carried by the collection's view classes as ``crm_collection`` (``records.collections`` finds
    collections through it); ``view`` is the ``CrudView`` serving it."""

    resource: str
    model: type[pw.Model]
    schema: Any
    many_schema: Any
    prefetch: Callable[[list], None] | None = None
    write_options: dict = field(default_factory=dict)
    endpoint: str = ""
    options: Callable[[], dict] | None = None
    view: Any = None
    blueprint: Any = None
    _schemas: dict = field(default_factory=dict, repr=False)

    def list_options(self) -> dict:
        """Keyword arguments for ``listing.list_query`` that this collection's list uses
        (base query, search fields, extra filters such as ``tag``, default sort)."""
        return self.options() if self.options else {}

    def get(self, record_id, actor, action: str = "read", lock: bool = False):
        """The record within the actor's scope (404 outside the read scope, 403 if not allowed).
        ``lock``: with its row lock, inside ``db.write_transaction()`` (see ``permissions.get_record``)."""
        return permissions.get_record(self.model, record_id, actor, self.resource, action, lock=lock)

    def dump(self, records, actor):
        """Dump one record or a list as ``actor`` may see it, prefetching relations in one query.

        The fields ``permissions.field_rules`` hides from the actor are never dumped (a schema
        without them, built once per hidden set); ``permissions.mask`` then leaves out the hidden
        keys inside ``custom``."""
        many = isinstance(records, list | tuple)
        rows = list(records) if many else [records]
        if self.prefetch and rows:
            self.prefetch(rows)
        rules = permissions.field_rules(actor, self.resource)
        hidden = frozenset(f for f, rule in rules.items() if rule == "hidden")
        schema = self.schema_for(hidden, many)
        data = dumping.dump(schema, rows if many else rows[0], many)
        # the pass also decrypts encrypted values and shows masked ones partly
        return permissions.mask(actor, self.resource, data)

    def schema_for(self, hidden: frozenset[str], many: bool = False):
        """The dump schema without the fields in ``hidden`` (cached per hidden set)."""
        base = self.many_schema if many else self.schema
        excluded = frozenset(hidden & set(base.fields))
        if not excluded:
            return base
        key = (excluded, many)
        cached = self._schemas.get(key)
        if cached is None:
            cached = self._schemas[key] = type(base)(
                many=many,
                only=base.only,
                exclude=set(base.exclude) | excluded,
                load_only=base.load_only,
                dump_only=base.dump_only,
            )
        return cached

    def detail_response(self, record, actor, status: int = 200, headers: dict | None = None) -> Response:
        """The single-record response with its ETag."""
        data = self.dump(record, actor)
        return json_response(data, status, {"ETag": etag_of(data), **(headers or {})})


class CrudView:
    """One collection's REST behaviour; override a method or an attribute in a subclass.

    Attributes: ``resource`` (permission resource and entity name), ``model``, ``schema`` (loads
    the create body, dumps records), ``create_schema`` / ``update_schema`` (default: ``schema`` and
    ``schema(partial=True)``), ``path`` (default ``/<resource>``), ``name`` (endpoint prefix),
    ``methods``, ``search_fields`` (list or function), ``filter_fields``, ``extra_filters``,
    ``default_sort``, ``description``. Steps: ``query()`` (the list's base select),
    ``prefetch(rows)``, ``before_save`` / ``after_save`` / ``before_delete`` (the write path's
    hooks; None for none), ``serialize(record)`` (the audit image); handlers ``list``, ``create``,
    ``read``, ``update``, ``delete``, each given the current actor.
    """

    resource: str = ""
    model: type[pw.Model] | None = None
    schema: Any = None
    create_schema: Any = None
    update_schema: Any = None
    path: str | None = None
    name: str | None = None
    methods: Iterable[str] = ALL_METHODS
    search_fields: Callable[[], list] | list | None = None
    filter_fields: Iterable[str] | None = None
    extra_filters: listing.ExtraFilters | None = None
    default_sort: str = listing.DEFAULT_SORT
    description: str | None = None
    prefetch: Callable[[list], None] | None = None
    before_save: Callable | None = None
    after_save: Callable | None = None
    before_delete: Callable | None = None

    def __init__(self, blp):
        self.methods = set(self.methods)
        self.path = self.path or f"/{self.resource.replace('.', '/')}"
        self.name = self.name or self.resource.replace(".", "_")
        self.label = self.description or self.resource
        self.dump_schema = _instance(self.schema)
        self.many_schema = _instance(self.schema, many=True)
        self.load_schema = _instance(self.create_schema or self.schema)
        self.patch_schema = self._patch_schema()
        self.list_args = list_args_schema(
            self.model,
            self.resource,
            filter_fields=self.filter_fields,
            extra_filters=self.extra_filters or (),
            name=f"{blp.name}_{self.name}",
        )
        self.write = {
            "before_save": self.before_save,
            "after_save": self.after_save,
            "serialize": self.serialize,
        }
        self.crud = Crud(
            self.resource,
            self.model,
            self.dump_schema,
            self.many_schema,
            self.prefetch,
            self.write,
            endpoint=f"{blp.name}.{self.name}_item",
            options=self.list_options,
            view=self,
            blueprint=blp,
        )

    def _patch_schema(self):
        if self.update_schema is not None:
            return _instance(self.update_schema)
        # a named subclass, so the OpenAPI document gets a distinct "<Name>Update" component
        base = self.schema if isinstance(self.schema, type) else type(self.schema)
        return type(base.__name__.removesuffix("Schema") + "UpdateSchema", (base,), {})(partial=True)

    # -- steps a subclass may override ------------------------------------------------------
    def query(self):
        """The list's base select (joins, a narrower set); None for ``model.select()``."""
        return None

    def serialize(self, record) -> dict:
        """The image of a record the audit trail and events carry (before / after)."""
        return service.record_dict(record)

    def list_options(self) -> dict:
        """Keyword arguments for ``listing.list_query`` (see ``Crud.list_options``)."""
        fields = self.search_fields() if callable(self.search_fields) else self.search_fields
        return {
            "query": self.query(),
            "search_fields": fields,
            "filter_fields": self.filter_fields,
            "extra_filters": self.extra_filters,
            "default_sort": self.default_sort,
        }

    # -- the handlers ---------------------------------------------------------------------------
    def list(self, actor) -> Response:
        """One page of the collection as ``actor`` may see it, with ``X-Pagination``."""
        page, page_size = listing.page_params(request.args)
        query, total = listing.list_query(
            self.model, self.resource, request.args, actor, **self.list_options()
        )
        rows = list(query)
        after = cursors.next_cursor(self.resource, query._order_by or [], rows, page_size)
        data = self.crud.dump(rows, actor)
        return json_response(data, 200, pagination_headers(total, page, page_size, after))

    def create(self, data: dict, actor) -> Response:
        """Create a record (201 + Location + ETag), once per ``Idempotency-Key``."""

        def run():
            record = service.create(self.resource, self.model, data, actor, **self.write)
            headers = {}
            if {"read", "update", "delete"} & self.methods:
                headers["Location"] = url_for(self.crud.endpoint, record_id=record.get_id())
            return self.crud.detail_response(record, actor, 201, headers)

        return idempotent(actor, run)

    def read(self, record_id, actor) -> Response:
        """One record with its ETag (304 when ``If-None-Match`` matches)."""
        record = self.crud.get(record_id, actor)
        return not_modified(self.crud.detail_response(record, actor))

    def locked(self, record_id, actor, action: str):
        """The record under its row lock for ``action`` (call inside ``write_transaction``),
        refused with 412 when the request's ``If-Match`` is stale."""
        record = self.crud.get(record_id, actor, action, lock=True)
        if request.headers.get("If-Match") is not None:
            check_if_match(etag_of(self.crud.dump(record, actor)))
        return record

    def update(self, data: dict, record_id, actor) -> Response:
        """Change some fields; 412 when ``If-Match`` is stale."""
        # the row is read under its lock (FOR UPDATE; BEGIN IMMEDIATE on SQLite), so the ETag
        # compared is the one of the row this update changes, and concurrent writers queue
        with write_transaction():
            record = self.locked(record_id, actor, "update")
            record = service.update(self.resource, record, data, actor, **self.write)
        return self.crud.detail_response(record, actor)

    def delete(self, record_id, actor) -> Response:
        """Delete the record (204); 412 when ``If-Match`` is stale."""
        with write_transaction():
            record = self.locked(record_id, actor, "delete")
            service.delete(
                self.resource, record, actor, before_delete=self.before_delete, serialize=self.serialize
            )
        return Response(status=204)

    # -- mounting -------------------------------------------------------------------------------
    @classmethod
    def mount(cls, blp) -> Crud:
        """Mount this collection's endpoints (and its ``@action`` methods) on ``blp``; the ``Crud``."""
        view = cls(blp)
        view._route(blp)
        for attr in dir(cls):
            spec = getattr(getattr(cls, attr, None), "crm_action", None)
            if spec is not None:
                register_action(view.crud, spec["name"], getattr(view, attr), **spec["options"])
        return view.crud

    def _route(self, blp) -> None:
        collection, item = collection_handlers(self, blp), item_handlers(self, blp)
        # MethodView collects its HTTP methods when the class is created, so build the classes last
        if collection:
            view = type(f"{self.name}_collection", (MethodView,), {**collection, "crm_collection": self.crud})
            blp.route(self.path, endpoint=f"{self.name}_collection")(view)
        if item:
            view = type(f"{self.name}_item", (MethodView,), {**item, "crm_collection": self.crud})
            blp.route(f"{self.path}/<int:record_id>", endpoint=f"{self.name}_item")(view)


def _hook(function):
    return staticmethod(function) if function is not None else None


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
    methods: Iterable[str] = ALL_METHODS,
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

    The one-call form of a ``CrudView`` subclass: each argument is the attribute of that name
    (``query``, ``serialize`` and the hooks as functions). ``before_save``, ``after_save``,
    ``before_delete``, ``serialize`` are passed to ``service.create/update/delete``;
    ``prefetch(records)`` loads relations for a page in a constant number of queries (no N+1).
    Every view requires a bearer token (``crm_core.auth``) and checks permissions itself.
    """
    attrs = {
        "resource": resource,
        "model": model,
        "schema": schema,
        "create_schema": create_schema,
        "update_schema": update_schema,
        "path": path,
        "name": name,
        "methods": tuple(methods),
        "search_fields": _hook(search_fields) if callable(search_fields) else search_fields,
        "filter_fields": filter_fields,
        "extra_filters": extra_filters,
        "default_sort": default_sort,
        "description": description,
        "prefetch": _hook(prefetch),
        "before_save": _hook(before_save),
        "after_save": _hook(after_save),
        "before_delete": _hook(before_delete),
        "serialize": staticmethod(serialize),
    }
    if query is not None:
        attrs["query"] = staticmethod(query)
    view_class = type(f"{(name or resource).replace('.', '_')}_view", (CrudView,), attrs)
    return view_class.mount(blp)
