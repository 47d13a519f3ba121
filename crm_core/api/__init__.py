"""The REST API: the flask-smorest ``Api`` under ``/api/v1`` and the ``Blueprint`` plugins use.

Public for plugin authors: ``Blueprint`` (flask-smorest's, with the core's pagination defaults),
``abort`` and ``APIError``.
"""

from __future__ import annotations

import flask_smorest
from flask_smorest import abort  # noqa: F401  re-exported for plugins

from ..errors import APIError  # noqa: F401  re-exported for plugins
from ..inputs import Parser

API_PREFIX = "/api/v1"

API_CONFIG = {
    "API_TITLE": "crm-core",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": API_PREFIX,
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    # served from the package: the docs work with no internet
    "OPENAPI_SWAGGER_UI_URL": "/static/swagger-ui/",
    "API_SPEC_OPTIONS": {
        "info": {"description": "crm-core REST API. Errors are JSON {code, status, message, errors}."},
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
            }
        },
        "security": [{"bearerAuth": []}],
    },
}


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest Blueprint with the core's pagination defaults (page_size up to 200)."""

    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 20, "max_page_size": 200}
    # JSON bodies, numbers and pages within the limits of crm_core.inputs
    ARGUMENTS_PARSER = PAGINATION_ARGUMENTS_PARSER = Parser()


def schema_name(schema) -> str:
    """OpenAPI component name of a schema: the class name without ``Schema``, plus what its
    modifiers change (``CustomerPartial`` for ``CustomerSchema(partial=True)``), so one schema
    used for create and for PATCH gives two clearly named components instead of ``Customer1``."""
    from apispec.ext.marshmallow.common import resolve_schema_cls
    from marshmallow import Schema

    resolved = resolve_schema_cls(schema)
    cls = resolved[0] if isinstance(resolved, list) else resolved
    name = cls.__name__.removesuffix("Schema") or cls.__name__
    if isinstance(schema, Schema):
        if schema.partial:
            name += "Partial"
        if schema.only:
            name += "Only" + "".join(part.title() for part in sorted(schema.only))
        if schema.exclude:
            name += "Without" + "".join(part.title() for part in sorted(schema.exclude))
    return name


def create_api(app) -> flask_smorest.Api:
    """Create the ``Api`` on ``app`` and mount every plugin's blueprints (one tag each)."""
    from apispec.ext.marshmallow import MarshmallowPlugin

    for key, value in API_CONFIG.items():
        app.config.setdefault(key, value)
    api = flask_smorest.Api(
        app, spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)}
    )
    for blueprints in app.extensions["crm"].plugins.hook.crm_blueprints():
        for blp in blueprints:
            api.register_blueprint(blp)
    return api
