"""Every collection of the app (core, custom objects, every installed plugin) answers the same
page through GraphQL as through REST for an admin, on the demo data: the schema built from the
metadata types every field REST sends, and each value comes back as REST sends it."""

from __future__ import annotations

import pytest
from flask import url_for

from crm_core.api.graphql.schema import sources
from crm_core.testing import run_cli

API = "/api/v1/graphql"


def _fields(client, headers, type_name) -> list[tuple[str, str | None]]:
    query = (
        "query($t: String!) { __type(name: $t) { fields { name type { kind name ofType { kind name } } } } }"
    )
    body = client.post(API, json={"query": query, "variables": {"t": type_name}}, headers=headers).get_json()
    out = []
    for field in body["data"]["__type"]["fields"]:
        named = field["type"]["ofType"] or field["type"]
        out.append((field["name"], named["name"] if named["kind"] == "OBJECT" else None))
    return out


def _selection(client, headers, type_name) -> str:
    parts = []
    for name, nested in _fields(client, headers, type_name):
        parts.append(f"{name} {_selection(client, headers, nested)}" if nested else name)
    return "{ " + " ".join(parts) + " }"


# PostgreSQL only: the parity tests cover both backends; this one is about types and values, and
# PostgreSQL is where a column gives back its richest Python types (and the demo data costs time)
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_every_collection_answers_as_rest_does(app, client, admin_headers):
    assert run_cli(app, "demo-data", "--customers", "12", "--password", "Demo-pass-123").exit_code == 0
    with app.test_request_context():
        paths = {}
        for source in sources().values():
            crud = source.crud
            endpoint = crud.endpoint.removesuffix("_item") + "_collection"
            if endpoint in app.view_functions:
                paths[source.name] = url_for(endpoint)
            elif crud.resource.startswith("objects."):
                paths[source.name] = "/api/v1/objects/" + crud.resource.removeprefix("objects.")
    checked = 0
    for name, path in sorted(paths.items()):
        rest = client.get(f"{path}?page_size=5&sort=id", headers=admin_headers)
        if rest.status_code != 200:
            continue  # a collection without a list (create-only)
        type_name = "".join(p[:1].upper() + p[1:] for p in name.split("_") if p) + "Record"
        query = f'{{ {name}(page_size: 5, sort: "id") {{ items {_selection(client, admin_headers, type_name)} }} }}'
        body = client.post(API, json={"query": query}, headers=admin_headers).get_json()
        assert "errors" not in body, (name, body)
        items = body["data"][name]["items"]
        for mine, theirs in zip(items, rest.get_json(), strict=True):
            custom = mine.pop("custom", None)
            theirs_custom = theirs.pop("custom", None)
            assert mine == theirs, name
            if isinstance(custom, dict):
                assert {k: v for k, v in custom.items() if v is not None} == {
                    k: v for k, v in (theirs_custom or {}).items() if v is not None
                }, name
        checked += bool(items)
    print(f"{checked} collections with records, {len(paths)} collections")
    assert checked >= 10  # the demo data fills most collections
