"""REST API of the metadata engine.

- ``/api/v1/fields/<entity>``: custom field definitions (list, create) and
  ``/api/v1/fields/<entity>/<name>`` (read, change, delete; ``?purge=true`` also removes values).
- ``/api/v1/objects``: custom object types (list, create); ``/api/v1/objects/<type>/definition``
  (read, change labels, delete an empty type).
- ``/api/v1/objects/<type>`` and ``/api/v1/objects/<type>/<id>``: the records of a type, served by
  one parametrized set of views built on the objects helper's list API, write path and ``Crud``
  helpers, so they behave exactly like the core collections (filters, sort, search, paging,
  ETag/If-Match, Idempotency-Key, row scopes, field rules, audit and events).

Managing definitions needs ``fields:<action>`` / ``object_types:<action>``; reading the fields of
an entity needs read access to the entity itself, and fields hidden from the caller by field rules
are left out.
"""

from __future__ import annotations

from flask import Response, current_app, request, url_for
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate
from werkzeug.datastructures import MultiDict

from .. import permissions
from ..auth import current_actor
from ..custom import definitions, objects
from ..custom.extensible import OBJECTS_PREFIX, require_entity
from ..custom.fielddefs import NAME_RE, custom_fields
from ..custom.validation import no_nul
from ..db import write_transaction
from ..entities.schemas import UTCDateTime
from ..errors import APIError
from ..jobs import tasks
from ..records import listing, service
from ..transfer import objects as transfer
from ..transfer import tabular
from . import API_PREFIX, Blueprint
from .crud import LIST_PARAMETERS, Crud
from .field_schemas import FieldInputSchema, FieldSchema, FieldUpdateSchema
from .idempotency import idempotent
from .paging import PAGINATION_HEADER_DOC, pagination_headers
from .responses import check_if_match, etag_of, etags, json_response
from .tasks import TaskSchema, accepted

blp = Blueprint(
    "metadata",
    __name__,
    url_prefix=API_PREFIX,
    description="Custom fields and custom object types (metadata engine)",
)

TRUE = ("1", "true", "yes", "on")


class ObjectTypeInputSchema(Schema):
    """A custom object type, optionally with its first fields."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Regexp(NAME_RE))
    label = fields.Raw()
    description = fields.String(validate=no_nul)
    fields = fields.List(fields.Dict(), load_default=list)


class ObjectTypeUpdateSchema(Schema):
    class Meta:
        unknown = RAISE

    label = fields.Raw()
    description = fields.String()


class ObjectTypeSchema(Schema):
    """A custom object type and its fields."""

    id = fields.Integer()
    name = fields.String()
    label = fields.Dict()
    description = fields.String()
    source = fields.String()
    resource = fields.String()
    fields = fields.List(fields.Nested(FieldSchema))


class ObjectRecordSchema(Schema):
    """A record of a custom object type: a display name and the type's custom fields."""

    class Meta:
        unknown = RAISE

    id = fields.Integer(dump_only=True)
    type = fields.String(dump_only=True)
    name = fields.String(load_default="", validate=[validate.Length(max=200), no_nul])
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict(load_default=dict)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class ObjectRecordUpdateSchema(ObjectRecordSchema):
    name = fields.String(validate=[validate.Length(max=200), no_nul])
    custom = fields.Dict()


# --- field definitions ---------------------------------------------------------------------------


def _field_out(fd, deleted=False) -> dict:
    return {**fd.as_dict(), "deleted": deleted}


def _visible(actor, entity: str, defs):
    view = permissions.view(actor, entity)
    return [fd for fd in defs if view.visible(fd.name)]


@blp.route("/fields/<entity>")
class Fields(MethodView):
    @blp.response(200, FieldSchema(many=True))
    @blp.doc(
        parameters=[{"in": "query", "name": "deleted", "schema": {"type": "boolean"}}],
        summary="List the custom fields of an entity",
    )
    def get(self, entity):
        """Custom fields of ``entity`` (``customers``, ``objects.course``...) in display order;
        ``?deleted=true`` adds deleted fields whose values are still stored."""
        actor = current_actor()
        require_entity(entity)
        permissions.require(actor, entity, "read")
        out = [_field_out(fd) for fd in _visible(actor, entity, custom_fields(entity))]
        if request.args.get("deleted", "").lower() in TRUE:
            out += [
                _field_out(fd, True) for fd in _visible(actor, entity, definitions.deleted_fields(entity))
            ]
        return out

    @blp.arguments(FieldInputSchema)
    @blp.response(201, FieldSchema)
    @blp.alt_response(409, description="The field exists, or stored values would break")
    def post(self, data, entity):
        """Define a custom field. A required field on an entity with records needs a default
        (written into them); values left by a deleted field of the same name are checked."""
        permissions.require(current_actor(), "fields", "create")
        return _field_out(definitions.create_field(entity, data))


@blp.route("/fields/<entity>/<name>")
class FieldItem(MethodView):
    @blp.response(200, FieldSchema)
    def get(self, entity, name):
        """One custom field definition."""
        actor = current_actor()
        require_entity(entity)
        permissions.require(actor, entity, "read")
        for fd in _visible(actor, entity, custom_fields(entity)):
            if fd.name == name:
                return _field_out(fd)
        raise APIError(404, f"No custom field {name!r} on {entity}.")

    @blp.arguments(FieldUpdateSchema)
    @blp.response(200, FieldSchema)
    @blp.alt_response(409, description="Stored values would break; the records are listed")
    def patch(self, data, entity, name):
        """Change a definition. Type, bounds, pattern, choices, required and unique changes check
        the stored values first and are refused (409) with the records that would break."""
        permissions.require(current_actor(), "fields", "update")
        return _field_out(definitions.update_field(entity, name, data))

    @blp.response(204)
    @blp.doc(parameters=[{"in": "query", "name": "purge", "schema": {"type": "boolean"}}])
    def delete(self, entity, name):
        """Delete a field. Its values stay in the records until purged (``?purge=true``)."""
        purge = request.args.get("purge", "").lower() in TRUE
        permissions.require(current_actor(), "fields", "delete")
        definitions.delete_field(entity, name, purge=purge)


# --- custom object types -------------------------------------------------------------------------


def _type_out(name: str) -> dict:
    info = objects.object_type(name)
    if info is None:
        raise APIError(404, f"No custom object type {name!r}.")
    entity = OBJECTS_PREFIX + name
    return {
        **info,
        "resource": entity,
        "fields": [_field_out(fd) for fd in custom_fields(entity)],
    }


@blp.route("/objects")
class ObjectTypes(MethodView):
    @blp.response(200, ObjectTypeSchema(many=True))
    def get(self):
        """Custom object types the caller may read, with their fields."""
        actor = current_actor()
        return [
            _type_out(name)
            for name in objects.type_names()
            if permissions.can(actor, OBJECTS_PREFIX + name, "read")
        ]

    @blp.arguments(ObjectTypeInputSchema)
    @blp.response(201, ObjectTypeSchema)
    def post(self, data):
        """Define a custom object type (and its fields); records live at ``/objects/<type>``."""
        permissions.require(current_actor(), "object_types", "create")
        objects.create_type(
            data["name"],
            label=data.get("label"),
            description=data.get("description", ""),
            fields=data["fields"],
        )
        return _type_out(data["name"])


@blp.route("/objects/<type_name>/definition")
class ObjectTypeItem(MethodView):
    @blp.response(200, ObjectTypeSchema)
    def get(self, type_name):
        """One custom object type and its fields."""
        permissions.require(current_actor(), OBJECTS_PREFIX + type_name, "read")
        return _type_out(type_name)

    @blp.arguments(ObjectTypeUpdateSchema)
    @blp.response(200, ObjectTypeSchema)
    def patch(self, data, type_name):
        """Change a type's labels or description."""
        permissions.require(current_actor(), "object_types", "update")
        objects.update_type(type_name, label=data.get("label"), description=data.get("description"))
        return _type_out(type_name)

    @blp.response(204)
    @blp.alt_response(409, description="The type still has records")
    def delete(self, type_name):
        """Delete a type that has no records (and its field definitions)."""
        permissions.require(current_actor(), "object_types", "delete")
        objects.delete_type(type_name)


# --- records of a custom object type -------------------------------------------------------------

_record_schema = ObjectRecordSchema()
_records_schema = ObjectRecordSchema(many=True)
_create_schema = ObjectRecordSchema()
_update_schema = ObjectRecordUpdateSchema(partial=True)


def _crud(type_name: str) -> Crud:
    if not objects.type_exists(type_name):
        raise APIError(404, f"No custom object type {type_name!r}.")
    model = objects.object_model(type_name)
    return Crud(
        OBJECTS_PREFIX + type_name,
        model,
        _record_schema,
        _records_schema,
        endpoint="metadata.object_record",
        options=lambda: {"search_fields": objects.search_fields(type_name)},
    )


def object_crud(type_name: str) -> Crud:
    """The ``Crud`` serving the records of the custom object type ``type_name`` (404 if none):
    what these views and the GraphQL endpoint read them through."""
    return _crud(type_name)


def _load(schema: Schema, unknown=RAISE) -> dict:
    body = request.get_json(silent=True)
    if body is None:
        if request.get_data():
            raise APIError(400, "Malformed JSON body.", errors={"_schema": ["Invalid JSON body."]})
        body = {}
    if not isinstance(body, dict):
        raise APIError(422, "Invalid input.", errors={"_schema": ["Send a JSON object."]})
    errors = schema.validate(body)
    if errors:
        raise APIError(422, "Invalid input: " + ", ".join(sorted(errors)) + ".", errors=errors)
    return schema.load(body, unknown=unknown)


@blp.route("/objects/<type_name>")
class ObjectRecords(MethodView):
    @blp.doc(parameters=LIST_PARAMETERS, summary="List the records of a custom object type")
    @blp.response(200, ObjectRecordSchema(many=True), headers=PAGINATION_HEADER_DOC)
    def get(self, type_name):
        """One page of records, with the same filters, sorts and search as core collections
        (custom fields by plain name: ``?level__gte=3&sort=-level``)."""
        crud = _crud(type_name)
        actor = current_actor()
        page, page_size = listing.page_params(request.args)
        rows, total = listing.list_query(
            crud.model, crud.resource, request.args, actor, **crud.list_options()
        )
        data = crud.dump(list(rows), actor)
        return json_response(data, 200, pagination_headers(total, page, page_size))

    @blp.doc(
        requestBody={"content": {"application/json": {"schema": ObjectRecordSchema}}},
        summary="Create a record of a custom object type",
    )
    @blp.response(201, ObjectRecordSchema)
    def post(self, type_name):
        """Create a record (201); ``Idempotency-Key`` makes retries safe."""
        crud = _crud(type_name)
        actor = current_actor()
        data = _load(_create_schema)

        def run():
            record = service.create(crud.resource, crud.model, data, actor)
            location = url_for("metadata.object_record", type_name=type_name, record_id=record.get_id())
            return crud.detail_response(record, actor, 201, {"Location": location})

        return idempotent(actor, run)


@blp.route("/objects/<type_name>/<int:record_id>", endpoint="object_record")
class ObjectRecordItem(MethodView):
    @blp.response(200, ObjectRecordSchema)
    def get(self, type_name, record_id):
        """One record with its ETag (304 when ``If-None-Match`` matches)."""
        crud = _crud(type_name)
        actor = current_actor()
        response = crud.detail_response(crud.get(record_id, actor), actor)
        if response.headers["ETag"] in etags(request.headers.get("If-None-Match", "")):
            return Response(status=304, headers={"ETag": response.headers["ETag"]})
        return response

    @blp.doc(requestBody={"content": {"application/json": {"schema": ObjectRecordUpdateSchema}}})
    @blp.response(200, ObjectRecordSchema)
    @blp.alt_response(412, description="If-Match does not match the current ETag")
    def patch(self, type_name, record_id):
        """Change some fields (``custom`` merges key by key); ``If-Match`` refuses lost updates."""
        crud = _crud(type_name)
        actor = current_actor()
        data = _load(_update_schema)
        with write_transaction():
            record = crud.get(record_id, actor, "update", lock=True)
            if request.headers.get("If-Match") is not None:
                check_if_match(etag_of(crud.dump(record, actor)))
            record = service.update(crud.resource, record, data, actor)
        return crud.detail_response(record, actor)

    @blp.response(204)
    @blp.alt_response(412, description="If-Match does not match the current ETag")
    def delete(self, type_name, record_id):
        """Delete the record (204)."""
        crud = _crud(type_name)
        actor = current_actor()
        with write_transaction():
            record = crud.get(record_id, actor, "delete", lock=True)
            if request.headers.get("If-Match") is not None:
                check_if_match(etag_of(crud.dump(record, actor)))
            service.delete(crud.resource, record, actor)
        return Response(status=204)


@blp.route("/objects/<type_name>/import")
class ObjectRecordImport(MethodView):
    @blp.doc(
        summary="Import records of a custom object type from CSV or XLSX (a task)",
        requestBody=tabular.IMPORT_REQUEST_BODY,
        parameters=[tabular.SYNC_PARAMETER],
    )
    @blp.response(202, TaskSchema, description="Queued: follow Location (GET /api/v1/tasks/<id>)")
    @blp.alt_response(200, description="sync=true and a small file: the import report")
    def post(self, type_name):
        """Columns ``name``, ``owner_id``, ``department_id`` and the custom fields (by name, as
        ``custom.<name>`` or by label). Queued as a task (``202``, ``Location`` the task, whose
        ``result`` is the report); it runs as you. All-or-nothing (the task fails with the 422
        listing bad rows) or ``mode=valid_only``. ``sync=true`` runs a small file in the request."""
        crud = _crud(type_name)
        actor = current_actor()
        data, filename, mode = tabular.import_upload()
        encoding = tabular.import_encoding()
        tabular.check_mode(mode)
        permissions.require(actor, crud.resource, "create")
        if tabular.wants_sync() and tabular.small_upload(data, filename, encoding):
            report = transfer.import_records(
                crud.resource, crud.model, _create_schema, data, filename, mode, actor, encoding=encoding
            )
            return json_response(report)
        params = {"via": "api", "type": type_name, "mode": mode, "encoding": encoding}
        task = tasks.queue("records.import", actor, params, data, filename)
        return accepted(task)


@blp.route("/objects/<type_name>/export")
class ObjectRecordExport(MethodView):
    @blp.doc(
        summary="Export records of a custom object type as CSV or XLSX",
        parameters=[{"in": "query", "name": "format", "schema": {"type": "string", "enum": ["csv", "xlsx"]}}],
    )
    @blp.response(200)
    @blp.alt_response(202, description="Over EXPORT_TASK_ROWS rows: queued; the task's file is the export")
    def get(self, type_name):
        """Every record the list filters select (no paging), within your export scope. More than
        ``EXPORT_TASK_ROWS`` rows: ``202`` and a task (``Location``) whose file
        (``GET /api/v1/tasks/<id>/file``) is the export."""
        crud = _crud(type_name)
        actor = current_actor()
        fmt = request.args.get("format", "csv")
        search = objects.search_fields(type_name)
        count = transfer.export_count(crud.resource, crud.model, request.args, actor, fmt, search)
        if count <= current_app.config["EXPORT_TASK_ROWS"]:
            return transfer.export_records(
                crud.resource, crud.model, request.args, actor, fmt, search_fields=search
            )
        params = {"via": "api", "type": type_name, "args": tabular.query_pairs(request.args), "format": fmt}
        return accepted(tasks.queue("records.export", actor, params))


def _task_args(ctx) -> MultiDict:
    return MultiDict([tuple(pair) for pair in ctx.params.get("args") or []])


def import_task(ctx) -> dict:
    """A queued ``/objects/<type>/import`` (task ``records.import`` with ``via: "api"``)."""
    crud = _crud(ctx.params["type"])
    return transfer.import_records(
        crud.resource,
        crud.model,
        _create_schema,
        ctx.input_data,
        ctx.input_name or "upload.csv",
        ctx.params.get("mode", "all_or_nothing"),
        ctx.actor,
        ctx.progress,
        ctx.params.get("encoding") or None,
    )


def export_task(ctx):
    """A queued ``/objects/<type>/export`` (task ``records.export`` with ``via: "api"``): the file."""
    type_name = ctx.params["type"]
    crud = _crud(type_name)
    return transfer.export_records(
        crud.resource,
        crud.model,
        _task_args(ctx),
        ctx.actor,
        ctx.params.get("format", "csv"),
        search_fields=objects.search_fields(type_name),
        progress=ctx.progress,
    )
