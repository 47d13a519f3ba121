"""A plugin's custom action has the guarantees of the CRUD endpoints: permission for the action
(403), row scope (404 outside), row lock and If-Match (412), one audit entry and one event, the
answer masked; both ways of declaring one (``register_action`` and a ``CrudView`` ``@action``
method), through the HTTP client (SQLite and PostgreSQL)."""

from __future__ import annotations

import textwrap
import types

import peewee as pw
from marshmallow import Schema, fields

from crm_core import hookimpl
from crm_core.api import API_PREFIX, Blueprint
from crm_core.api.actions import action, register_action
from crm_core.api.crud import CrudView, register_crud
from crm_core.auth import create_user, issue_token
from crm_core.db import RecordModel, utcnow
from crm_core.errors import APIError
from crm_core.testing import TEST_PASSWORD

MIGRATION = textwrap.dedent(
    """
    import peewee as pw

    def up(migrator, db):
        class Claim(pw.Model):
            owner_id = pw.IntegerField(null=True, index=True)
            department_id = pw.IntegerField(null=True, index=True)
            custom = pw.JSONField(default=dict)
            title = pw.CharField(default="")
            status = pw.CharField(default="open")
            note = pw.CharField(default="")
            claimed_at = pw.DateTimeField(null=True)
            created_at = pw.DateTimeField(null=True)
            updated_at = pw.DateTimeField(null=True)

            class Meta:
                database = db
                table_name = "warranty_claim"

        db.create_tables([Claim])
    """
)


class Claim(RecordModel):
    title = pw.CharField(default="")
    status = pw.CharField(default="open")
    note = pw.CharField(default="")
    claimed_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "warranty_claim"


#: the claims whose ``note`` was dumped: a field hidden from the caller is never dumped at all
NOTES_DUMPED: list[int] = []


class ClaimSchema(Schema):
    id = fields.Integer(dump_only=True)
    title = fields.String()
    status = fields.String(dump_only=True)
    note = fields.Method("dump_note", deserialize="load_note")
    claimed_at = fields.DateTime(dump_only=True)
    owner_id = fields.Integer()

    def dump_note(self, record):
        NOTES_DUMPED.append(record.id)
        return record.note

    def load_note(self, value):
        return value


class PartSchema(ClaimSchema):
    pass


class ReasonSchema(Schema):
    reason = fields.String(required=True)


def claim(record, data, actor):
    """Claim the warranty: an open claim becomes claimed (409 when it is not open)."""
    if record.status != "open":
        raise APIError(409, "Only an open claim can be claimed.")
    record.status = "claimed"
    record.claimed_at = utcnow()


class Parts(CrudView):
    """The same collection shape declared by subclassing, with an ``@action`` method."""

    resource, model, schema, path, name = "warranty.parts", Claim, PartSchema, "/parts", "parts"

    @action("reject", schema=ReasonSchema)
    def reject(self, record, data, actor):
        """Reject the claim, giving a reason."""
        return {"status": "rejected", "note": data["reason"]}


def make_plugin(tmp_path):
    mig = tmp_path / "warranty_migrations"
    mig.mkdir()
    (mig / "0001_warranty.py").write_text(MIGRATION)
    blp = Blueprint("warranty", __name__, url_prefix=f"{API_PREFIX}/warranty")
    crud = register_crud(blp, "warranty.claims", Claim, ClaimSchema, path="/claims")
    register_action(crud, "claim", claim)
    Parts.mount(blp)
    actions = ["read", "create", "update", "delete", "claim", "reject"]
    return types.SimpleNamespace(
        crm_models=hookimpl(lambda: [Claim]),
        crm_migrations=hookimpl(lambda: str(mig)),
        crm_blueprints=hookimpl(lambda: [blp]),
        crm_permissions=hookimpl(
            lambda: [
                {"resource": "warranty.claims", "actions": actions},
                {"resource": "warranty.parts", "actions": actions},
            ]
        ),
    )


def _headers(username, roles):
    raw, _ = issue_token(create_user(username, TEST_PASSWORD, roles=roles))
    return {"Authorization": f"Bearer {raw}"}


def _role(client, admin, name, grants, field_rules=()):
    body = {"name": name, "label": name, "grants": grants, "field_rules": list(field_rules)}
    r = client.post("/api/v1/roles", json=body, headers=admin)
    assert r.status_code == 201, r.get_json()


def test_a_custom_action_checks_permission_scope_and_masks(register_plugin, tmp_path):
    app = register_plugin(make_plugin(tmp_path), "warranty")
    client = app.test_client()
    with app.app_context():
        admin = _headers("warranty_admin", ("admin",))
        _role(
            client,
            admin,
            "claimer",
            [
                {"resource": "warranty.claims", "action": a, "scope": "own"}
                for a in ("read", "create", "claim")
            ],
            [{"resource": "warranty.claims", "field": "note", "rule": "hidden"}],
        )
        _role(client, admin, "looker", [{"resource": "warranty.claims", "action": "read", "scope": "all"}])
        claimer = _headers("claimer_user", ("claimer",))
        looker = _headers("looker_user", ("looker",))

        mine = client.post("/api/v1/warranty/claims", json={"title": "screen"}, headers=claimer).get_json()
        theirs = client.post(
            "/api/v1/warranty/claims", json={"title": "hinge", "note": "n"}, headers=admin
        ).get_json()
        client.patch(f"/api/v1/warranty/claims/{mine['id']}", json={"note": "internal"}, headers=admin)

        # readable, but the action is not granted: 403
        r = client.post(f"/api/v1/warranty/claims/{mine['id']}/claim", headers=looker)
        assert r.status_code == 403
        # granted, but the record is outside the caller's scope: 404, its existence not revealed
        r = client.post(f"/api/v1/warranty/claims/{theirs['id']}/claim", headers=claimer)
        assert r.status_code == 404
        # a stale If-Match: 412, nothing changed
        r = client.post(
            f"/api/v1/warranty/claims/{mine['id']}/claim", headers={**claimer, "If-Match": '"stale"'}
        )
        assert r.status_code == 412

        NOTES_DUMPED.clear()
        r = client.post(f"/api/v1/warranty/claims/{mine['id']}/claim", headers=claimer)
        assert r.status_code == 200, r.get_json()
        listed = client.get("/api/v1/warranty/claims", headers=claimer).get_json()
        assert [c["id"] for c in listed] == [mine["id"]] and "note" not in listed[0]
        assert NOTES_DUMPED == []
        body = r.get_json()
        assert body["status"] == "claimed" and body["claimed_at"]
        assert "note" not in body  # hidden from the claimer
        assert r.headers["ETag"]
        assert (
            client.get(f"/api/v1/warranty/claims/{mine['id']}", headers=admin).get_json()["note"]
            == "internal"
        )
        # the handler's refusal comes through as it raised it
        assert client.post(f"/api/v1/warranty/claims/{mine['id']}/claim", headers=claimer).status_code == 409

        audit = client.get(
            "/api/v1/audit",
            query_string={"resource": "warranty.claims", "record_id": str(mine["id"]), "action": "claim"},
            headers=admin,
        ).get_json()
        assert len(audit) == 1
        events = client.get("/api/v1/events", query_string={"type": "warranty.claims.claim"}, headers=admin)
        assert [e["type"] for e in events.get_json()] == ["warranty.claims.claim"]


def test_an_action_method_of_a_crud_view_loads_its_body(register_plugin, tmp_path):
    app = register_plugin(make_plugin(tmp_path), "warranty")
    client = app.test_client()
    with app.app_context():
        admin = _headers("parts_admin", ("admin",))
        part = client.post("/api/v1/warranty/parts", json={"title": "fan"}, headers=admin).get_json()
        r = client.post(f"/api/v1/warranty/parts/{part['id']}/reject", json={}, headers=admin)
        assert r.status_code == 422 and "reason" in r.get_json()["errors"], r.get_json()
        r = client.post(f"/api/v1/warranty/parts/{part['id']}/reject", json={"reason": "worn"}, headers=admin)
        assert r.status_code == 200, r.get_json()
        assert (r.get_json()["status"], r.get_json()["note"]) == ("rejected", "worn")
        spec = client.get("/api/v1/openapi.json").get_json()
        operation = spec["paths"]["/api/v1/warranty/parts/{record_id}/reject"]["post"]
        assert {"200", "403", "404", "412"} <= set(operation["responses"])
        assert "requestBody" in operation
