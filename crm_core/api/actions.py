"""Custom actions on a collection's records, with the guarantees of the CRUD endpoints.

``register_action(crud, "claim", handler)`` mounts ``POST {path}/<id>/claim`` on the collection's
blueprint; a ``CrudView`` method decorated with ``@action("claim")`` is mounted the same way.
One request:

1. the caller needs ``permission_action`` (default: the action's name) on the resource for that
   record (403), and the record must be inside their read scope (404 otherwise, so its existence
   is not revealed);
2. inside one write transaction the record is read under its row lock (412 when the request's
   ``If-Match`` is stale), then ``handler(record, data, actor)`` runs: it changes the record's
   fields (or returns a dict of column values to set) and may raise ``APIError``;
3. what changed is written with ``records.service.write_changes`` and reported once with
   ``record_written(action, resource, record, actor, before, after)``: one audit entry
   and one event (``<noun>.<action>``, e.g. ``warranty.claims.claim``) with the images before
   and after the action;
4. the answer is the record masked for the caller (``permissions.mask``) with its new ETag.

``schema`` loads the JSON body (default: none, the handler gets ``{}``).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import request
from flask.views import MethodView

from ..auth import current_actor
from ..changes import record_written
from ..db import write_transaction
from ..records import service
from .responses import check_if_match, etag_of


def action(name: str, **options) -> Callable:
    """Decorator for a ``CrudView`` method ``(self, record, data, actor)``: mounted by
    ``CrudView.mount`` as the custom action ``name`` (options as for ``register_action``)."""

    def mark(method):
        method.crm_action = {"name": name, "options": options}
        return method

    return mark


def run_action(crud, name: str, handler: Callable, permission_action: str, data: dict, record_id, actor):
    """Steps 1 to 4 of the module for one request; the response."""
    with write_transaction():
        record = crud.get(record_id, actor, permission_action, lock=True)
        if request.headers.get("If-Match") is not None:
            check_if_match(etag_of(crud.dump(record, actor)))
        serialize = crud.write_options.get("serialize") or service.record_dict
        before = serialize(record)
        changes = handler(record, data, actor)
        if isinstance(changes, dict):
            columns = service.columns(type(record))
            for key, value in changes.items():
                if key in columns:
                    setattr(record, columns[key].name, value)
        service.write_changes(record)
        record_written(name, crud.resource, record, actor, before, serialize(record))
    return crud.detail_response(record, actor)


def register_action(
    crud,
    name: str,
    handler: Callable,
    *,
    permission_action: str | None = None,
    schema=None,
    summary: str | None = None,
    description: str | None = None,
):
    """Mount ``POST {path}/<id>/<name>`` for the collection ``crud`` (what ``register_crud``
    returned) running ``handler(record, data, actor)`` as the module describes; the view class."""
    blp, view = crud.blueprint, crud.view
    permission = permission_action or name
    endpoint = f"{view.name}_{name.replace('-', '_')}"

    def post(_self, *args, record_id):
        data = args[0] if args else {}
        return run_action(crud, name, handler, permission, data, record_id, current_actor())

    post.__doc__ = description or handler.__doc__ or f"The {name} action on one of {view.label}."
    post = blp.response(200, view.dump_schema)(post)
    post = blp.alt_response(403, description=f"Needs {crud.resource}:{permission}")(post)
    post = blp.alt_response(404, description="No such record in your scope")(post)
    post = blp.alt_response(412, description="If-Match does not match the current ETag")(post)
    if schema is not None:
        post = blp.arguments(schema)(post)
    post = blp.doc(summary=summary or f"{name.capitalize()} one of {view.label}")(post)
    view_class = type(endpoint, (MethodView,), {"post": post})
    blp.route(f"{view.path}/<int:record_id>/{name}", endpoint=endpoint)(view_class)
    return view_class
