"""GraphQL answers what REST answers, reader by reader (SQLite and PostgreSQL): for an admin, a
sales rep who reads only their own records, a role that hides a field and one that masks some,
the same lists and records give the same ids and the same values (encrypted ones opened for the
same readers); a hidden field is not in the reader's schema, so asking for it is refused and
shows nothing; a record out of scope is null as REST's 404; a plugin's collection is served and
its read hook runs for GraphQL reads as for REST ones."""

from __future__ import annotations

import textwrap
import types

import peewee as pw
import pytest
from marshmallow import Schema, fields

from crm_core import hookimpl
from crm_core.api import API_PREFIX, Blueprint
from crm_core.api.crud import register_crud
from crm_core.api.graphql import is_read_request
from crm_core.audit.models import AuditEntry
from crm_core.db import RecordModel
from crm_core.testing import user_with_token

API = "/api/v1"
SECRET, PHONE, ID_NUMBER, VAULT = "owes-the-boss", "13812345678", "110105199001011234", "sealed-42"


def gql(client, headers, query, variables=None, status=200):
    r = client.post(f"{API}/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert r.status_code == status, r.get_json()
    return r.get_json()


def selection(client, headers, type_name) -> str:
    """Every field of ``type_name`` in the reader's schema, as a selection set (one level of
    objects under it, as ``custom``)."""
    fields_of = "{ __type(name: $t) { fields { name type { kind name ofType { kind name } } } } }"
    body = gql(client, headers, "query($t: String!) " + fields_of, {"t": type_name})
    parts = []
    for field in body["data"]["__type"]["fields"]:
        named = field["type"]["ofType"] or field["type"]
        if named["kind"] == "OBJECT":
            parts.append(f"{field['name']} {selection(client, headers, named['name'])}")
        else:
            parts.append(field["name"])
    return "{ " + " ".join(parts) + " }"


def both(client, headers, path, name, type_name, extra=""):
    """(REST list, GraphQL items) of one collection, everything the reader may see, by id."""
    rest = client.get(f"{API}/{path}?page_size=50&sort=id{extra}", headers=headers)
    assert rest.status_code == 200, rest.get_json()
    query = (
        f'{{ {name}(page_size: 50, sort: "id") {{ total items {selection(client, headers, type_name)} }} }}'
    )
    page = gql(client, headers, query)
    assert "errors" not in page, page
    assert page["data"][name]["total"] == len(rest.get_json())
    return rest.get_json(), page["data"][name]["items"]


def assert_same(rest_items, graph_items):
    assert [r["id"] for r in rest_items] == [g["id"] for g in graph_items]
    for rest, graph in zip(rest_items, graph_items, strict=True):
        assert set(rest) == set(graph)  # the schema holds exactly the fields REST sends
        for key, value in graph.items():
            if key == "custom" and isinstance(value, dict):
                assert set(rest["custom"]) <= set(value)
                assert {k: v for k, v in value.items() if v is not None} == {
                    k: v for k, v in rest["custom"].items() if v is not None
                }
            else:
                assert value == rest[key], key


@pytest.fixture
def world(client, admin_headers):
    """Customers with a plain, a hidden, a masked and an encrypted custom field, deals, a custom
    object type, and four readers: admin, an own-scope rep (secret hidden), a masking desk and a
    department sales user."""

    def post(path, body):
        r = client.post(f"{API}/{path}", json=body, headers=admin_headers)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    for spec in (
        {"name": "tier", "type": "string"},
        {"name": "secret_note", "type": "string"},
        {"name": "id_number", "type": "string"},
        {"name": "vault", "type": "string", "encrypted": True},
        {"name": "visits", "type": "int"},
    ):
        post("fields/customers", spec)
    dept = post("departments", {"name": "East"})
    rules = [
        {"resource": "customers", "field": "secret_note", "rule": "hidden"},
        {"resource": "customers", "field": "vault", "rule": "hidden"},
    ]
    own = [{"resource": r, "action": "read", "scope": "own"} for r in ("customers", "deals", "objects.*")]
    post("roles", {"name": "gql_rep", "grants": own, "field_rules": rules})
    masks = [{"resource": "customers", "field": f, "rule": "masked"} for f in ("phone", "id_number")]
    post(
        "roles",
        {
            "name": "gql_desk",
            "grants": [{"resource": "customers", "action": "read", "scope": "all"}],
            "field_rules": masks,
        },
    )
    rep, rep_headers = user_with_token("gql_rep_user", ("gql_rep",))
    _desk, desk_headers = user_with_token("gql_desk_user", ("gql_desk",))
    _seller, sales_headers = user_with_token("gql_sales_user", ("sales",), department_id=dept["id"])
    customers = []
    for i in range(4):
        custom = {"tier": f"t{i}", "secret_note": SECRET, "id_number": ID_NUMBER, "vault": VAULT, "visits": i}
        body = {"name": f"Cust {i}", "phone": f"{PHONE[:-1]}{i}", "custom": custom}
        if i % 2:
            body["owner_id"] = rep.id
        if i == 3:
            body["department_id"] = dept["id"]
        customers.append(post("customers", body))
    stages = [{"name": "Lead", "probability": 10}, {"name": "Won", "probability": 100, "kind": "won"}]
    post("pipelines", {"name": "Sales", "is_default": True, "stages": stages})
    for i, customer in enumerate(customers):
        post(
            "deals",
            {
                "title": f"Deal {i}",
                "customer_id": customer["id"],
                "amount": "12.50",
                **({"owner_id": rep.id} if i % 2 else {}),
            },
        )
    post(
        "objects",
        {
            "name": "gql_widget",
            "fields": [{"name": "size", "type": "int"}, {"name": "color", "type": "string"}],
        },
    )
    for i in range(3):
        post(
            "objects/gql_widget",
            {"name": f"W{i}", "custom": {"size": i, "color": "red"}, **({"owner_id": rep.id} if i else {})},
        )
    return {
        "admin": admin_headers,
        "rep": rep_headers,
        "desk": desk_headers,
        "sales": sales_headers,
        "customers": customers,
    }


def test_every_reader_gets_from_graphql_what_rest_gives(client, world):
    seen = {}
    for who in ("admin", "rep", "desk", "sales"):
        rest, graph = both(client, world[who], "customers", "customers", "CustomersRecord")
        assert_same(rest, graph)
        seen[who] = graph
    for who in ("admin", "rep", "sales"):
        rest, graph = both(client, world[who], "deals", "deals", "DealsRecord")
        assert_same(rest, graph)
    for who in ("admin", "rep"):
        rest, graph = both(
            client, world[who], "objects/gql_widget", "objects_gql_widget", "ObjectsGqlWidgetRecord"
        )
        assert_same(rest, graph)
    # what each saw: all four, only their own two, masked values, the department's one
    assert len(seen["admin"]) == 4 and seen["admin"][0]["custom"]["vault"] == VAULT
    assert len(seen["rep"]) == 2 and "vault" not in seen["rep"][0]["custom"]
    assert seen["desk"][0]["phone"] != PHONE and "****" in seen["desk"][0]["phone"]
    assert seen["desk"][0]["custom"]["id_number"] == "110105********1234"
    assert [c["id"] for c in seen["sales"]] == [world["customers"][3]["id"]]
    # filters and search are the REST list's: the same rows for the same arguments
    rest = client.get(f"{API}/customers?visits__gte=2&sort=-id", headers=world["admin"]).get_json()
    page = gql(
        client,
        world["admin"],
        '{ customers(sort: "-id", filter: [{field: "visits", op: GTE, value: "2"}]) { items { id } } }',
    )
    assert [c["id"] for c in page["data"]["customers"]["items"]] == [c["id"] for c in rest]


def test_a_hidden_field_is_not_in_the_readers_schema(client, world):
    rep = world["rep"]
    for query in (
        "{ customers { items { id custom { secret_note } } } }",
        "{ customers { items { custom { vault } } } }",
        '{ customers(filter: [{field: "secret_note", value: "owes-the-boss"}]) { total } }',
    ):
        r = client.post(f"{API}/graphql", json={"query": query}, headers=rep)
        assert SECRET not in r.get_data(as_text=True) and VAULT not in r.get_data(as_text=True)
        assert r.status_code in (200, 400)
        body = r.get_json()
        assert body["errors"] and not (body.get("data") or {}).get("customers")
    # the filter on it is refused as REST refuses it (400 naming the field)
    assert client.get(f"{API}/customers?secret_note=owes-the-boss", headers=rep).status_code == 400
    names = gql(client, rep, '{ __type(name: "CustomersCustom") { fields { name } } }')
    shown = {f["name"] for f in names["data"]["__type"]["fields"]}
    assert {"tier", "id_number", "visits"} <= shown and not {"secret_note", "vault"} & shown
    # the desk's masked fields are text, and cannot be filtered on (their value would leak)
    desk = gql(
        client, world["desk"], '{ customers(filter: [{field: "phone", value: "13812345678"}]) { total } }'
    )
    assert desk["data"] is None or desk["data"]["customers"] is None
    assert desk["errors"][0]["extensions"]["code"] == 400


def test_a_record_out_of_scope_is_null_where_rest_says_404(app, client, world):
    theirs = world["customers"][0]["id"]  # the admin's, not the rep's
    assert client.get(f"{API}/customers/{theirs}", headers=world["rep"]).status_code == 404
    body = gql(
        client, world["rep"], "query($id: Int64!) { customers_by_id(id: $id) { id name } }", {"id": theirs}
    )
    assert body["data"]["customers_by_id"] is None
    assert body["errors"][0]["extensions"]["code"] == 404
    mine = world["customers"][1]["id"]
    # a sensitive resource's single reads are audited by the one get_record, whichever API asks
    app.config["AUDIT_SENSITIVE_RESOURCES"] = "customers"
    try:
        assert client.get(f"{API}/customers/{mine}", headers=world["rep"]).status_code == 200
        body = gql(client, world["rep"], f"{{ customers_by_id(id: {mine}) {{ id name }} }}")
    finally:
        app.config["AUDIT_SENSITIVE_RESOURCES"] = ""
    assert body["data"]["customers_by_id"] == {"id": mine, "name": "Cust 1"}
    reads = AuditEntry.select().where(AuditEntry.kind == "read", AuditEntry.resource == "customers")
    assert [e.record_id for e in reads] == [str(mine), str(mine)]
    # a collection the reader may not read is not in their schema at all
    r = client.post(f"{API}/graphql", json={"query": "{ tickets { total } }"}, headers=world["desk"])
    assert r.status_code == 400 and "tickets" in r.get_json()["errors"][0]["message"]


# --- a plugin's collection, whose read hook audits like the medical plugin's ----------------------

MIGRATION = textwrap.dedent(
    """
    import peewee as pw

    def up(migrator, db):
        class Gadget(pw.Model):
            owner_id = pw.IntegerField(null=True, index=True)
            department_id = pw.IntegerField(null=True, index=True)
            custom = pw.JSONField(default=dict)
            title = pw.CharField(default="")
            created_at = pw.DateTimeField(null=True)
            updated_at = pw.DateTimeField(null=True)

            class Meta:
                database = db
                table_name = "gqlt_gadget"

        db.create_tables([Gadget])
    """
)


class Gadget(RecordModel):
    title = pw.CharField(default="")

    class Meta:
        table_name = "gqlt_gadget"


class GadgetSchema(Schema):
    id = fields.Integer(dump_only=True)
    title = fields.String()
    owner_id = fields.Integer(allow_none=True)


READS: list[list[int]] = []


def _audit(rows):
    # the medical plugin's pattern: audit in prefetch, but only reads, never a write's echo
    if is_read_request():
        READS.append(sorted(r.id for r in rows))


def test_a_plugin_collection_is_served_and_its_read_hook_runs(register_plugin, tmp_path):
    (tmp_path / "gqlt_migrations").mkdir()
    (tmp_path / "gqlt_migrations" / "0001_gadgets.py").write_text(MIGRATION)

    blp = Blueprint("gqlt", __name__, url_prefix=API_PREFIX + "/gqlt")
    register_crud(blp, "gqlt.gadgets", Gadget, GadgetSchema, path="/gadgets", prefetch=_audit)
    plugin = types.SimpleNamespace(
        crm_models=hookimpl(lambda: [Gadget]),
        crm_migrations=hookimpl(lambda: str(tmp_path / "gqlt_migrations")),
        crm_blueprints=hookimpl(lambda: [blp]),
        crm_permissions=hookimpl(lambda: [{"resource": "gqlt.gadgets", "actions": ["read", "create"]}]),
    )
    app = register_plugin(plugin, name="gqlt")
    client = app.test_client()
    with app.app_context():
        _user, headers = user_with_token("gqlt_admin")
    READS.clear()
    made = [client.post(f"{API}/gqlt/gadgets", json={"title": t}, headers=headers) for t in ("a", "b")]
    assert [m.status_code for m in made] == [201, 201] and READS == []  # writes' echoes are not reads
    rest = client.get(f"{API}/gqlt/gadgets?sort=id", headers=headers).get_json()
    page = gql(client, headers, '{ gqlt_gadgets(sort: "id") { items { id title owner_id } } }')
    assert page["data"]["gqlt_gadgets"]["items"] == rest
    one = gql(client, headers, f"{{ gqlt_gadgets_by_id(id: {rest[0]['id']}) {{ title }} }}")
    assert one["data"]["gqlt_gadgets_by_id"] == {"title": "a"}
    counted = gql(client, headers, "{ gqlt_gadgets { total } }")  # no record read: none audited
    assert counted["data"]["gqlt_gadgets"]["total"] == 2
    ids = [g["id"] for g in rest]
    assert [ids, ids, ids[:1]] == READS  # REST list, GraphQL list (POST), GraphQL detail
