"""The published OpenAPI document is valid, and the API keeps to it.

schemathesis generates requests for every operation from ``/api/v1/openapi.json`` and checks each
answer: never a 5xx, and every body matches the schema declared for its status (errors included).
One test per operation and backend, each on a fresh database, as an admin; a few examples each so
the whole run stays within a few minutes on both backends.
"""

from __future__ import annotations

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

#: Operations the fuzzer must not call, each with the reason.
EXCLUDED = {
    ("POST", "/api/v1/auth/logout"): "ends the admin's own session, so later examples get 401 only",
    ("DELETE", "/api/v1/auth/tokens/{token_id}"): "may revoke the admin's own token mid-run",
    ("POST", "/api/v1/customers/import"): "multipart upload of a file, covered by test_import_export",
    (
        "POST",
        "/api/v1/objects/{type_name}/import",
    ): "multipart upload of a file, covered by test_import_export",
}


def _published_spec() -> dict:
    """The document as the app serves it (built once at collection, no database needed)."""
    from crm_core.app import create_app

    tmp = tempfile.mkdtemp(prefix="crm-openapi-")
    app = create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp}/spec.db", "INSTANCE_PATH": tmp, "SECRET_KEY": "x"}
    )
    try:
        return app.test_client().get("/api/v1/openapi.json").get_json()
    finally:
        app.extensions["crm"].db.close()


SPEC = _published_spec()
# the coverage phase alone sends ~150 requests per operation: the fuzzing phase, a few examples
# per operation, keeps the run within minutes on both backends
schema = schemathesis.openapi.from_dict(
    SPEC, config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
)


def _walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def test_openapi_document_is_valid(client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").json
    validate(document)
    for path, node in _walk(document):
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            assert not isinstance(node.get(key), str), f"{path}/{key} is a string: {node[key]!r}"
        if node.get("type") in ("number", "integer") and "default" in node:
            assert not isinstance(node["default"], str), f"{path}/default is a string"


def test_error_responses_declare_the_real_body(client):
    document = client.get("/api/v1/openapi.json").json
    error = document["components"]["schemas"]["Error"]["properties"]
    for key in ("code", "status", "message", "errors", "existing_id", "etag", "error_count", "report"):
        assert key in error
    assert {"error", "error_description"} <= set(error)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                assert "default" in operation["responses"], (method, path)


@pytest.fixture
def app_config(app_config):
    # 429s would only hide what the fuzzer is looking for
    return {**app_config, "RATELIMIT_ENABLED": False}


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_keeps_to_its_schema(case, app, admin_headers):
    reason = EXCLUDED.get((case.method.upper(), case.path))
    if reason:
        pytest.skip(reason)
    case.call_and_validate(
        app=app,
        headers={**(case.headers or {}), **admin_headers},
        checks=[not_a_server_error, response_schema_conformance],
    )


def _conforms(document: dict, path: str, method: str, status: int, body) -> None:
    """``body`` is valid against the schema ``document`` declares for that answer."""
    from openapi_schema_validator import OAS30Validator

    responses = document["paths"][path][method]["responses"]
    response = responses.get(str(status)) or responses["default"]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    # "#/components/..." references resolve against the root: give it the document's components
    schema = {**schema, "components": document["components"]}
    errors = sorted(OAS30Validator(schema).iter_errors(body), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def _post(client, headers, path, body, status=201):
    r = client.post(f"/api/v1/{path}", json=body, headers=headers)
    assert r.status_code == status, r.get_json()
    return r.get_json()


def test_deals_and_stage_summaries_keep_to_their_schema(client, admin_headers):
    document = client.get("/api/v1/openapi.json").json
    stages = [{"name": "Lead"}, {"name": "Won", "kind": "won"}]
    pipeline = _post(
        client, admin_headers, "pipelines", {"name": "Sales", "is_default": True, "stages": stages}
    )
    deal = _post(client, admin_headers, "deals", {"title": "big", "amount": "1000.10"})
    _conforms(document, "/api/v1/deals", "post", 201, deal)
    assert deal["closed_at"] is None and deal["created_at"].endswith("Z")
    r = client.get(f"/api/v1/pipelines/{pipeline['id']}/summary", headers=admin_headers)
    assert r.status_code == 200
    _conforms(document, "/api/v1/pipelines/{record_id}/summary", "get", 200, r.get_json())
    assert {"amount": "1000.10"}.items() <= r.get_json()[0].items()
    summary = document["components"]["schemas"]["StageSummary"]["properties"]["amount"]
    assert summary["type"] == "string" and summary["nullable"] is True


def test_error_bodies_keep_to_the_error_schema(client, admin_headers):
    document = client.get("/api/v1/openapi.json").json
    first = _post(client, admin_headers, "customers", {"name": "a", "email": "a@example.com"})
    body = _post(client, admin_headers, "customers", {"name": "b", "email": "a@example.com"}, status=409)
    assert body["existing_id"] == first["id"]
    _conforms(document, "/api/v1/customers", "post", 409, body)
    body = _post(client, admin_headers, "customers", {"name": ""}, status=422)
    assert "name" in body["errors"]
    _conforms(document, "/api/v1/customers", "post", 422, body)
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("nope", "wrong"))
    assert r.status_code == 401 and r.get_json()["error"] == "invalid_client"
    _conforms(document, "/oauth/token", "post", 401, r.get_json())


def test_times_carry_their_timezone(client, admin_headers):
    document = client.get("/api/v1/openapi.json").json
    me = client.get("/api/v1/users/me", headers=admin_headers).get_json()
    _conforms(document, "/api/v1/users/me", "get", 200, me)
    ticket = _post(client, admin_headers, "tickets", {"title": "help"})
    _conforms(document, "/api/v1/tickets", "post", 201, ticket)
    assert ticket["sla_due_at"] is None or ticket["sla_due_at"].endswith("Z")
    assert ticket["resolved_at"] is None
    jobs = client.get("/api/v1/jobs", headers=admin_headers).get_json()
    _conforms(document, "/api/v1/jobs", "get", 200, jobs)
    assert any(job.get("next_run_at") for job in jobs)
    for job in jobs:
        assert job.get("next_run_at") is None or job["next_run_at"].endswith("Z")
