"""Operations as a core capability: the probes and ``/metrics`` routes, and per-request
metrics and log lines."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import NotFound

from .. import hookimpl, stamps
from ..errors import APIError, error_payload, localise
from . import health, logs, metrics

blp = Blueprint("ops", __name__)

#: endpoints answered before any other ``before_request`` (see ``crm_startup``)
EARLY = frozenset({"ops.live", "ops.ready", "ops.metrics"})


@blp.route("/health/live", endpoint="live")
def live():
    """The process answers (no database query): for a liveness probe."""
    return _no_store(jsonify({"status": health.OK}))


@blp.route("/health/ready", endpoint="ready")
def ready():
    """200 when the database answers, every migration is applied and the scheduler heartbeat
    is recent; else 503, naming each failing check (for a readiness probe or load balancer)."""
    ok, body = health.readiness()
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    return _no_store(response)


@blp.route("/metrics", endpoint="metrics")
def scrape():
    """Prometheus exposition; 404 unless ``METRICS_TOKEN`` is set, 401 without that bearer token."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        raise NotFound()  # answered as any unknown URL: metrics are off
    if not metrics.authorized(token, request.headers.get("Authorization", "")):
        refused = APIError(
            401,
            "A valid metrics token is required (Authorization: Bearer <token>).",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
        return _error(refused)
    response = current_app.response_class(metrics.render(current_app), mimetype=None)
    response.headers["Content-Type"] = metrics.CONTENT_TYPE
    return _no_store(response)


def _error(error: APIError):
    """The API's JSON error (a scraper asks for text, which would get the workbench's page)."""
    body, headers = error_payload(error)
    response = jsonify(localise(body))
    response.status_code = error.code
    response.headers.update(headers)
    return _no_store(response)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@hookimpl(tryfirst=True)
def crm_startup(app):
    """The routes, and the request hooks: ``tryfirst``, so the probes and ``/metrics`` are
    answered before the other plugins' ``before_request`` (sessions, tokens, rate limits, CSRF)
    run: they stay cheap, are never rate limited, and ``/metrics``'s bearer token is not taken for
    a user's token."""
    app.register_blueprint(blp)
    app.extensions["crm_metrics"] = recorder = metrics.Metrics()

    @app.before_request
    def _ops_start():
        g.ops_started = time.perf_counter()
        if request.endpoint in EARLY:
            return app.view_functions[request.endpoint]()
        return None

    @app.after_request
    def _ops_record(response):
        if stamps.discarded():
            return response  # (run again at once: that run is recorded)
        started = g.pop("ops_started", None)
        seconds = None if started is None else time.perf_counter() - started
        rule = request.url_rule.rule if request.url_rule is not None else None
        recorder.observe(rule, request.method, response.status_code, seconds, app.extensions["crm"].db)
        if request.endpoint not in EARLY:  # probes every few seconds would drown the log
            actor = g.get("actor")
            logs.log_request(rule, request.method, response.status_code, seconds, getattr(actor, "id", None))
        return response
