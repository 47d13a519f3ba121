"""Read-only GraphQL for integrators: ``/api/v1/graphql`` (docs/graphql.md).

``POST`` a JSON body ``{"query", "variables", "operationName"}`` or ``GET`` with the same as
query parameters (``variables`` as JSON). The caller is the one of any API call (bearer token,
OAuth2 client scopes) and counts in the same rate limits. Each reader gets their own schema
(:mod:`.schema`): only the collections they may read, without the fields hidden from them, with
masked ones as text. Lists and records are answered by the REST list and detail steps
(:mod:`.resolve`), so scopes, field rules, decryption, masking and read audits are the same
decisions; there are no mutations. Depth and cost are limited (:mod:`.limits`).

Answers: 200 ``{"data": ..., "errors": [...]}`` once the query ran (a field's error, e.g. a
record out of scope, is ``null`` with an error whose ``extensions.code`` is the REST status);
400 ``{"errors": [...]}`` for a request that cannot run (bad JSON, syntax, unknown field,
over a limit, a mutation).
"""

from __future__ import annotations

import json

from flask import current_app, g, request
from flask.views import MethodView
from flask_babel import gettext as _
from graphql import GraphQLError, OperationType, get_operation_ast, parse, validate

from ...auth import current_actor
from .. import API_PREFIX, Blueprint
from ..responses import json_response
from . import limits
from .resolve import resolvers
from .schema import schema_for, sources

blp = Blueprint(
    "graphql",
    __name__,
    url_prefix=API_PREFIX,
    description="Read-only GraphQL over every collection you may read (docs/graphql.md)",
)

_BODY_DOC = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["query"],
                "properties": {
                    "query": {"type": "string"},
                    "variables": {"type": "object", "nullable": True},
                    "operationName": {"type": "string", "nullable": True},
                },
            }
        }
    }
}


def is_read_request() -> bool:
    """True when the current request only reads: ``GET``/``HEAD``, or a query of the read-only
    GraphQL endpoint (sent by ``POST``). A plugin that audits reads in a collection's ``prefetch``
    step asks this rather than the HTTP method, so GraphQL reads are audited like REST ones."""
    return request.method in ("GET", "HEAD") or bool(g.get("crm_graphql_read"))


def _refuse(message: str, **extensions) -> dict:
    return {"message": message, "extensions": {"code": 400, **extensions}}


def _answer(status: int, errors: list | None = None, data=None, ran: bool = False):
    body = {"data": data} if ran else {}
    if errors:
        body["errors"] = errors
    return json_response(body, status)


def _formatted(error: GraphQLError) -> dict:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return error.formatted
    # a bug, not the caller's fault: logged, and no internals in the answer
    current_app.logger.error("graphql: %s at %s", original, error.path, exc_info=original)
    return {"message": _("Internal server error."), "path": error.path, "extensions": {"code": 500}}


def execute(query, variables, operation_name):
    """Run one GraphQL request for the current caller: the Flask response."""
    actor = current_actor()
    if not isinstance(query, str) or not query.strip():
        return _answer(400, [_refuse(_("Send a GraphQL query in 'query'."))])
    if variables is not None and not isinstance(variables, dict):
        return _answer(400, [_refuse(_("'variables' must be a JSON object."))])
    if operation_name is not None and not isinstance(operation_name, str):
        return _answer(400, [_refuse(_("'operationName' must be a string."))])
    schema = schema_for(actor, resolvers)
    try:
        document = parse(query)
    except GraphQLError as exc:
        return _answer(400, [{**exc.formatted, "extensions": {"code": 400}}])
    problems = validate(schema._schema, document)
    if problems:
        return _answer(400, [{**e.formatted, "extensions": {"code": 400}} for e in problems[:20]])
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return _answer(400, [_refuse(_("Name the operation to run ('operationName')."))])
    if operation.operation is not OperationType.QUERY:
        return _answer(400, [_refuse(_("This endpoint is read-only: send a query."))])
    try:
        limits.check(document, operation, variables, {s.name for s in sources().values()}, current_app.config)
    except limits.LimitExceeded as exc:
        return _answer(400, [exc.formatted])
    g.crm_graphql_read = True
    result = schema.execute_sync(query, variable_values=variables, operation_name=operation_name)
    errors = [_formatted(e) for e in result.errors or ()]
    if any(e.get("extensions", {}).get("code") == 500 for e in errors) and result.data is None:
        return _answer(500, errors)
    if result.data is None and not any(e.get("path") for e in errors):
        return _answer(400, errors)  # nothing ran: the variables did not fit the operation
    return _answer(200, errors, result.data, ran=True)


@blp.route("/graphql")
class GraphQLEndpoint(MethodView):
    @blp.doc(
        summary="Run a GraphQL query",
        requestBody=_BODY_DOC,
        responses={"200": {"description": "The query ran: data and field errors"}},
    )
    @blp.alt_response(400, description="The request cannot run (syntax, unknown field, over a limit)")
    def post(self):
        """A read-only GraphQL query (docs/graphql.md): ``{"query", "variables", "operationName"}``."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _answer(400, [_refuse(_("Send a JSON object with 'query'."))])
        return execute(body.get("query"), body.get("variables"), body.get("operationName"))

    @blp.doc(
        summary="Run a GraphQL query (query string)",
        parameters=[
            {"in": "query", "name": "query", "required": True, "schema": {"type": "string"}},
            {"in": "query", "name": "variables", "schema": {"type": "string"}},
            {"in": "query", "name": "operationName", "schema": {"type": "string"}},
        ],
        responses={"200": {"description": "The query ran: data and field errors"}},
    )
    @blp.alt_response(400, description="The request cannot run (syntax, unknown field, over a limit)")
    def get(self):
        """The same query as ``POST``, from the query string (``variables`` as JSON)."""
        raw = request.args.get("variables")
        try:
            variables = json.loads(raw) if raw else None
        except ValueError:
            return _answer(400, [_refuse(_("'variables' is not valid JSON."))])
        return execute(request.args.get("query"), variables, request.args.get("operationName"))
