"""The HTTP methods a ``CrudView`` mounts: thin functions carrying the flask-smorest documentation
(arguments, response schemas, list parameters) that hand over to the view's handlers."""

from __future__ import annotations

from ..auth import current_actor
from .list_args import GENERIC_DESCRIPTION, list_parameters
from .paging import PAGINATION_HEADER_DOC


def collection_handlers(view, blp) -> dict:
    """``{"get": ..., "post": ...}`` for the collection URL of ``view`` (those its methods allow)."""
    handlers = {}
    if "list" in view.methods:

        @blp.doc(parameters=list_parameters(view.list_args), summary=f"List {view.label}")
        @blp.response(200, view.many_schema, headers=PAGINATION_HEADER_DOC)
        def get(_self):
            """One page of the collection, filtered and sorted (see the list API grammar)."""
            return view.list(current_actor())

        get.__doc__ += "\n\n" + GENERIC_DESCRIPTION  # flask-smorest reads it when routing
        handlers["get"] = get
    if "create" in view.methods:

        @blp.arguments(view.load_schema)
        @blp.response(201, view.dump_schema)
        @blp.doc(summary=f"Create one of {view.label}")
        def post(_self, data):
            """Create a record (201). Send ``Idempotency-Key`` to make retries safe."""
            return view.create(data, current_actor())

        handlers["post"] = post
    return handlers


def item_handlers(view, blp) -> dict:
    """``{"get", "patch", "delete"}`` for the item URL of ``view`` (those its methods allow)."""
    handlers = {}
    if "read" in view.methods:

        @blp.response(200, view.dump_schema)
        @blp.doc(summary=f"Read one of {view.label}")
        def get_item(_self, record_id):
            """One record with its ETag (304 when ``If-None-Match`` matches)."""
            return view.read(record_id, current_actor())

        handlers["get"] = get_item
    if "update" in view.methods:

        @blp.arguments(view.patch_schema)
        @blp.response(200, view.dump_schema)
        @blp.alt_response(412, description="If-Match does not match the current ETag")
        @blp.doc(summary=f"Update one of {view.label}")
        def patch(_self, data, record_id):
            """Change some fields. Send ``If-Match: <ETag>`` to refuse lost updates (412)."""
            return view.update(data, record_id, current_actor())

        handlers["patch"] = patch
    if "delete" in view.methods:

        @blp.response(204)
        @blp.alt_response(412, description="If-Match does not match the current ETag")
        @blp.doc(summary=f"Delete one of {view.label}")
        def delete(_self, record_id):
            """Delete the record (204)."""
            return view.delete(record_id, current_actor())

        handlers["delete"] = delete
    return handlers
