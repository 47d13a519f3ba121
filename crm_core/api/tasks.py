"""``/api/v1/tasks``: the caller's long-running tasks (imports, large exports), their progress,
result and file. A task is visible to its creator and to holders of ``jobs:read`` (admins); to
anyone else it does not exist (404)."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from .. import permissions
from ..auth import current_actor
from ..entities.schemas import UTCDateTime
from ..errors import APIError
from ..jobs.tasks import DONE, STATUSES, SUMMARY_FIELDS, Task
from . import API_PREFIX, Blueprint

blp = Blueprint(
    "tasks",
    __name__,
    url_prefix=f"{API_PREFIX}/tasks",
    description="Long-running tasks: imports, large exports",
)


class ProgressSchema(Schema):
    phase = fields.String(metadata={"description": "e.g. reading, validating, importing, exporting"})
    done = fields.Integer()
    total = fields.Integer(allow_none=True)
    percent = fields.Integer(allow_none=True)


class TaskFileSchema(Schema):
    name = fields.String()
    media_type = fields.String()
    url = fields.String()


class TaskSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    progress = fields.Nested(ProgressSchema)
    result = fields.Dict(allow_none=True, metadata={"description": "the import report, export row count..."})
    error = fields.Dict(allow_none=True, metadata={"description": "the error, as an API error body"})
    file = fields.Nested(TaskFileSchema, allow_none=True)
    created_by = fields.Integer()
    created_at = UTCDateTime()
    started_at = UTCDateTime(allow_none=True)
    finished_at = UTCDateTime(allow_none=True)
    links = fields.Dict(keys=fields.String(), values=fields.String())


class TaskQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    kind = fields.String(validate=validate.Length(max=100))
    created_by = fields.Integer(
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "another user's tasks (jobs:read only)"},
    )


def task_url(task_id: int) -> str:
    return f"{API_PREFIX}/tasks/{task_id}"


def task_dict(task: Task) -> dict:
    """The JSON shape of a task (``TaskSchema``)."""
    percent = None
    if task.total:
        percent = min(100, int(task.done * 100 / task.total))
    elif task.status == DONE:
        percent = 100
    has_file = bool(task.output_name)
    return {
        "id": task.id,
        "kind": task.kind,
        "status": task.status,
        "progress": {"phase": task.phase, "done": task.done, "total": task.total, "percent": percent},
        "result": task.result,
        "error": task.error,
        "file": (
            {"name": task.output_name, "media_type": task.output_type, "url": task_url(task.id) + "/file"}
            if has_file
            else None
        ),
        "created_by": task.created_by,
        "created_at": task.created_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "links": {"self": task_url(task.id), **({"file": task_url(task.id) + "/file"} if has_file else {})},
    }


def accepted(task: Task) -> Response:
    """``202 Accepted``, ``Location`` the task, the task as the body (for endpoints that queue)."""
    import json

    body = TaskSchema().dump(task_dict(task))
    response = Response(json.dumps(body, ensure_ascii=False), status=202, mimetype="application/json")
    response.headers["Location"] = task_url(task.id)
    return response


def _may_see_all(actor) -> bool:

    return permissions.can(actor, "jobs", "read")


def visible_task(task_id: int, actor, fields=SUMMARY_FIELDS) -> Task:
    """The task if ``actor`` created it (or holds ``jobs:read``); 404 otherwise."""
    task = Task.select(*fields).where(Task.id == task_id).first() if 0 < task_id < 2**63 else None
    if task is None or (task.created_by != actor.id and not _may_see_all(actor)):
        raise APIError(404, "No such task.")
    return task


def file_response(task_id: int, actor) -> Response:
    """The file a task of ``actor``'s produced, as an attachment (the API's and the workbench's
    download); 404 if the task is not visible or has no file (yet)."""
    fields = [Task.id, Task.created_by, Task.status, Task.output_name, Task.output_type, Task.output_data]
    task = visible_task(task_id, actor, fields=fields)
    if task.status != DONE or task.output_data is None:
        raise APIError(404, "This task has no file (yet).")
    response = Response(bytes(task.output_data), mimetype=task.output_type or "application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="{task.output_name}"'
    return response


@blp.route("")
class Tasks(MethodView):
    @blp.arguments(TaskQuerySchema, location="query")
    @blp.response(200, TaskSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Your tasks, newest first (with ``jobs:read``, ``created_by`` shows another user's)."""
        actor = current_actor()
        owner = args.get("created_by", actor.id)
        if owner != actor.id and not _may_see_all(actor):
            owner = -1  # nobody's: reveals nothing about other users
        query = Task.select(*SUMMARY_FIELDS).where(Task.created_by == owner).order_by(Task.id.desc())
        if "status" in args:
            query = query.where(Task.status == args["status"])
        if "kind" in args:
            query = query.where(Task.kind == args["kind"])
        pagination_parameters.item_count = query.count()
        page = query.paginate(pagination_parameters.page, pagination_parameters.page_size)
        return [task_dict(t) for t in page]


@blp.route("/<int:task_id>")
class TaskItem(MethodView):
    @blp.response(200, TaskSchema)
    @blp.alt_response(404, description="No such task (or not yours)")
    def get(self, task_id):
        """Status, progress, and when finished the result (e.g. the import report) or the error."""
        return task_dict(visible_task(task_id, current_actor()))


@blp.route("/<int:task_id>/file")
class TaskFile(MethodView):
    @blp.response(200)
    @blp.alt_response(404, description="No such task, or it has no file (yet)")
    def get(self, task_id):
        """The file the task produced (a large export), as an attachment."""
        return file_response(task_id, current_actor())
