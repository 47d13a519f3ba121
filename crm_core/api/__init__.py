"""The REST API: the flask-smorest ``Api`` under ``/api/v1``, one module per resource, and the
``Blueprint`` they (and plugins, through ``crm_core.plugin_api``) mount their routes on.
"""

from __future__ import annotations

import decimal

import flask_smorest
from flask_smorest import abort  # noqa: F401  re-exported for plugins
from marshmallow import Schema, fields

from ..errors import APIError  # noqa: F401  re-exported for plugins
from ..inputs import Parser
from ..records.listing import pagination_header
from .paging import PAGINATION_HEADER_DOC

API_PREFIX = "/api/v1"

#: examples of OAuth2 scopes for the OpenAPI document (any ``resource:action`` of
#: ``crm_core.permissions.resources()`` is a scope; plugins add theirs)
OAUTH_SCOPES = {
    "customers:read": "View customers (within your row scope and field rules)",
    "customers:write": "Create, change and delete customers",
    "companies:read": "View companies",
    "deals:read": "View deals",
    "deals:write": "Create, change and delete deals",
    "tickets:read": "View tickets",
    "activities:read": "View activities",
    "*": "Everything the user may do",
}

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
                # the same bearer tokens, obtained through OAuth2 (crm_core.auth.oauth)
                "oauth2": {
                    "type": "oauth2",
                    "description": "Third-party apps: authorization code with PKCE S256 (required for "
                    "every client), refresh tokens rotated on each use, revocation at /oauth/revoke "
                    "(RFC 7009). Integrations: client credentials. Scopes are resource:action "
                    "(resource:write = create, update, delete; resource:* ; *), and a token never "
                    "allows more than its user holds. Guide: docs/oauth.md.",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": "/authorize",
                            "tokenUrl": "/oauth/token",
                            "refreshUrl": "/oauth/token",
                            "scopes": OAUTH_SCOPES,
                        },
                        "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": OAUTH_SCOPES},
                    },
                },
            }
        },
        "security": [{"bearerAuth": []}, {"oauth2": []}],
    },
}


class ErrorSchema(Schema):
    """Every error body (``crm_core.errors.error_payload``); documentation only."""

    code = fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = fields.String(required=True, metadata={"description": "HTTP status phrase"})
    message = fields.String(required=True)
    errors = fields.Dict(
        metadata={"description": "Per-field messages ({field: [message]}), nested for nested input"}
    )
    error_count = fields.Integer(metadata={"description": "How many field errors there were (capped)"})
    existing_id = fields.Integer(
        allow_none=True, metadata={"description": "409: the record that already holds the value"}
    )
    etag = fields.String(metadata={"description": "412: the current ETag"})
    report = fields.Raw(metadata={"description": "Import: the rows refused and why"})
    error = fields.String(metadata={"description": "OAuth 2.0 (RFC 6749) error code"})
    error_description = fields.String(metadata={"description": "OAuth 2.0 (RFC 6749) error text"})


def _number(value):
    """A Decimal bound or default as a JSON number (apispec copies them as strings)."""
    if isinstance(value, str | decimal.Decimal):
        number = decimal.Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    return value


def decimal2properties(self, field, ret, **kwargs) -> dict:
    """OpenAPI for marshmallow ``Decimal`` fields: numeric ``minimum``/``maximum``/``default``, and
    ``type: string`` (a decimal literal) for ``as_string`` fields, which is what they send."""
    if not isinstance(field, fields.Decimal):
        return {}
    for key in ("minimum", "maximum", "default", "multipleOf"):
        if key in ret:
            ret[key] = _number(ret[key])
    if field.as_string:
        ret["type"] = "string"
        ret["format"] = "decimal"
        ret["pattern"] = DECIMAL_PATTERN
        low, high = ret.pop("minimum", None), ret.pop("maximum", None)
        if low is not None or high is not None:
            bounds = f"from {low if low is not None else '-inf'} to {high if high is not None else 'inf'}"
            ret["description"] = (ret.get("description", "") + f" (decimal {bounds})").strip()
        if "default" in ret:
            ret["default"] = str(ret["default"])
    return {}


def pattern2ecma(self, field, ret, **kwargs) -> dict:
    """Python-only regex anchors (``\\A``, ``\\Z``) as ECMA-262 ones, which OpenAPI patterns use."""
    pattern = ret.get("pattern")
    if isinstance(pattern, str):
        ret["pattern"] = pattern.replace(r"\A", "^").replace(r"\Z", "$")
    return {}


#: A decimal as ``str(Decimal)`` writes it (no NaN or infinity)
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"


class Api(flask_smorest.Api):
    """flask-smorest ``Api`` documenting the core's real error body."""

    ERROR_SCHEMA = ErrorSchema


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest Blueprint with the core's pagination defaults (page_size up to 200)."""

    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 20, "max_page_size": 200}
    # JSON bodies, numbers and pages within the limits of crm_core.inputs
    ARGUMENTS_PARSER = PAGINATION_ARGUMENTS_PARSER = Parser()

    @staticmethod
    def _make_pagination_metadata(page, page_size, item_count):
        """``@blp.paginate()`` lists send the header every other list sends (api/paging.py)."""
        return pagination_header(item_count, page, page_size)

    def _document_pagination_metadata(self, spec, resp_doc):
        """Document that header as the other lists do."""
        resp_doc.setdefault("headers", {}).update(PAGINATION_HEADER_DOC)


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
    api = Api(app, spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)})
    api.ma_plugin.converter.add_attribute_function(decimal2properties)
    api.ma_plugin.converter.add_attribute_function(pattern2ecma)
    for blueprints in app.extensions["crm"].plugins.hook.crm_blueprints():
        for blp in blueprints:
            api.register_blueprint(blp)
    return api
