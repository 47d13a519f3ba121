"""The API's own endpoints: health and the plugin listing."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields

from .. import __version__, hookimpl
from ..auth import public
from ..ops import health
from . import (
    API_PREFIX,
    Blueprint,
    audit,
    automations,
    companies,
    conversations,
    customers,
    customers_transfer,  # noqa: F401  (its routes are on customers.blp)
    deals,
    departments,
    events,
    graphql,
    jobs,
    login,
    messaging,
    metadata,
    privacy,
    privacy_requests,
    roles,
    segments,
    tasks,
    tickets,
    tokens,
    users,
    webhooks,
)

blp = Blueprint("system", __name__, url_prefix=API_PREFIX, description="Health and installed plugins")


class HealthSchema(Schema):
    status = fields.String()
    database = fields.String()
    version = fields.String()


class PluginSchema(Schema):
    name = fields.String()
    version = fields.String()
    source = fields.String()
    enabled = fields.Boolean()
    status = fields.String()
    error = fields.String(allow_none=True)
    requires = fields.List(fields.String())
    hooks = fields.List(fields.String())


@blp.route("/health")
@public
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="The database is unreachable")
    def get(self):
        """Liveness and database reachability (no authentication). Probes of a deployment use
        ``/health/live`` and ``/health/ready`` (migrations, scheduler heartbeat too: docs/operations.md)."""

        problem = health.check_database()  # the same check as /health/ready's
        if problem is None:
            return {"status": "ok", "database": "ok", "version": __version__}
        current_app.logger.warning("health: database unreachable: %s", problem)  # report, never raise
        return {"status": "error", "database": "unreachable", "version": __version__}, 503


@blp.route("/plugins")
class Plugins(MethodView):
    @blp.response(200, PluginSchema(many=True))
    def get(self):
        """Installed plugins: name, version, enabled, hooks implemented, and any load error."""
        return current_app.extensions["crm"].plugins.listing()


@hookimpl
def crm_blueprints():
    """Every REST blueprint of the core, in the order the OpenAPI document lists them."""

    return [
        blp,
        login.blp,
        tokens.tokens_blp,
        users.blp,
        departments.blp,
        tokens.clients_blp,
        tokens.oauth_blp,
        roles.blp,
        roles.resources_blp,
        audit.blp,
        customers.blp,
        customers.tags_blp,
        companies.blp,
        companies.contacts_blp,
        deals.pipelines_blp,
        deals.blp,
        tickets.activities_blp,
        tickets.blp,
        segments.blp,
        metadata.blp,
        events.blp,
        jobs.blp,
        tasks.blp,
        webhooks.blp,
        automations.blp,
        privacy.blp,
        privacy_requests.blp,
        conversations.blp,
        graphql.blp,
        messaging.blp,
    ]
