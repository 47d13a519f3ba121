"""``/api/v1/jobs``: the declared jobs with their last run, the run log, and "run now" (admins)."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from .. import permissions
from ..auth import current_actor
from ..entities.schemas import UTCDateTime
from ..errors import APIError
from ..jobs.models import JobRun
from ..jobs.registry import collect_jobs
from ..jobs.runner import run_job
from . import API_PREFIX, Blueprint

blp = Blueprint(
    "jobs", __name__, url_prefix=f"{API_PREFIX}/jobs", description="Scheduled jobs and their runs"
)


def _require(action: str):
    """403 unless the caller holds ``jobs:<action>`` (only the admin role by default)."""

    actor = current_actor()
    permissions.require(actor, "jobs", action)
    return actor


class JobRunSchema(Schema):
    id = fields.Integer()
    job_id = fields.String()
    source = fields.String()
    started_at = UTCDateTime()
    finished_at = UTCDateTime(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    outcome = fields.String()
    error = fields.String(allow_none=True)
    result = fields.String(allow_none=True)
    host = fields.String()
    pid = fields.Integer(allow_none=True)
    started_by = fields.Integer(allow_none=True)


class JobSchema(Schema):
    id = fields.String()
    plugin = fields.String()
    trigger = fields.String()
    schedule = fields.Dict()
    description = fields.String()
    error = fields.String(allow_none=True)
    next_run_at = UTCDateTime(allow_none=True, metadata={"description": "cron jobs: next fire time (UTC)"})
    last_run = fields.Nested(JobRunSchema, allow_none=True)


class RunQuerySchema(Schema):
    job_id = fields.String(validate=validate.Length(max=200))
    outcome = fields.String(validate=validate.OneOf(["running", "success", "error"]))


def _jobs():
    return collect_jobs(current_app.extensions["crm"].plugins)


@blp.route("")
class Jobs(MethodView):
    @blp.response(200, JobSchema(many=True))
    def get(self):
        """Every job the plugins declare, its schedule and its most recent run (``jobs:read``: admins)."""
        _require("read")
        out = []
        for spec in _jobs().values():
            item = spec.as_dict()
            item["last_run"] = (
                JobRun.select().where(JobRun.job_id == spec.id).order_by(JobRun.id.desc()).first()
            )
            out.append(item)
        return out


@blp.route("/runs")
class JobRuns(MethodView):
    @blp.arguments(RunQuerySchema, location="query")
    @blp.response(200, JobRunSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """The run log, newest first (``jobs:read``: admins); filter by ``job_id`` and ``outcome``."""
        _require("read")
        query = JobRun.select().order_by(JobRun.id.desc())
        if "job_id" in args:
            query = query.where(JobRun.job_id == args["job_id"])
        if "outcome" in args:
            query = query.where(JobRun.outcome == args["outcome"])
        pagination_parameters.item_count = query.count()
        return list(query.paginate(pagination_parameters.page, pagination_parameters.page_size))


@blp.route("/<string:job_id>/run")
class JobRunNow(MethodView):
    @blp.response(200, JobRunSchema)
    @blp.alt_response(404, description="No such job")
    @blp.alt_response(409, description="The job's declaration is invalid")
    def post(self, job_id):
        """Run a job now, in this request, and return its logged run (``jobs:run``: admins).

        The run is logged like a scheduled one; a failing job answers 200 with ``outcome:
        "error"`` and the error, since the request itself succeeded.
        """
        actor = _require("run")
        spec = _jobs().get(job_id)
        if spec is None:
            raise APIError(404, f"No job {job_id!r}.")
        if spec.error:
            raise APIError(409, f"Job {job_id!r} is misdeclared: {spec.error}")
        return run_job(current_app._get_current_object(), spec, source="api", started_by=actor.id)
