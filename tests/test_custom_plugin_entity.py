"""A plugin's own model opts in to custom fields with ``crm_entity``; one that does not stays out
(SQLite and PostgreSQL)."""

from __future__ import annotations

import textwrap
import types

import peewee as pw
from marshmallow import Schema, fields

from crm_core import hookimpl
from crm_core.api import API_PREFIX, Blueprint
from crm_core.api.crud import register_crud
from crm_core.auth import create_user, issue_token
from crm_core.db import RecordModel
from crm_core.testing import TEST_PASSWORD

MIGRATION = textwrap.dedent(
    """
    import peewee as pw

    def up(migrator, db):
        class Base(pw.Model):
            owner_id = pw.IntegerField(null=True, index=True)
            department_id = pw.IntegerField(null=True, index=True)
            custom = pw.JSONField(default=dict)
            title = pw.CharField(default="")
            created_at = pw.DateTimeField(null=True)
            updated_at = pw.DateTimeField(null=True)

            class Meta:
                database = db

        class Pet(Base):
            class Meta:
                table_name = "zoo_pet"

        class Cage(Base):
            class Meta:
                table_name = "zoo_cage"

        db.create_tables([Pet, Cage])
    """
)


class Pet(RecordModel):
    crm_entity = "zoo.pets"  # opts in: custom fields can be defined on it
    title = pw.CharField(default="")

    class Meta:
        table_name = "zoo_pet"


class Cage(RecordModel):  # no crm_entity: a plugin model is not an entity unless it says so
    title = pw.CharField(default="")

    class Meta:
        table_name = "zoo_cage"


class PetSchema(Schema):
    id = fields.Integer(dump_only=True)
    title = fields.String()
    custom = fields.Dict(load_default=dict)


def make_plugin(tmp_path):
    mig = tmp_path / "zoo_migrations"
    mig.mkdir()
    (mig / "0001_zoo.py").write_text(MIGRATION)
    blp = Blueprint("zoo", __name__, url_prefix=f"{API_PREFIX}/zoo")
    register_crud(blp, "zoo.pets", Pet, PetSchema, path="/pets")
    return types.SimpleNamespace(
        crm_models=hookimpl(lambda: [Pet, Cage]),
        crm_migrations=hookimpl(lambda: str(mig)),
        crm_blueprints=hookimpl(lambda: [blp]),
        crm_permissions=hookimpl(lambda: [{"resource": "zoo.pets", "actions": ["read", "create", "update"]}]),
    )


def test_plugin_model_opts_in_to_custom_fields(register_plugin, tmp_path):
    app = register_plugin(make_plugin(tmp_path), "zoo")
    client = app.test_client()
    with app.app_context():
        raw, _ = issue_token(create_user("zoo_admin", TEST_PASSWORD, roles=("admin",)))
        headers = {"Authorization": f"Bearer {raw}"}
        spec = {"name": "weight", "type": "decimal", "min": 0, "filterable": True}
        assert client.post("/api/v1/fields/zoo.pets", json=spec, headers=headers).status_code == 201
        assert client.post("/api/v1/fields/zoo_cages", json=spec, headers=headers).status_code == 404
        # "title" is a column of the plugin model: a custom field may not take it
        r = client.post("/api/v1/fields/zoo.pets", json={"name": "title", "type": "string"}, headers=headers)
        assert r.status_code == 422

        for title, weight in (("cat", "4.5"), ("dog", "30")):
            r = client.post(
                "/api/v1/zoo/pets", json={"title": title, "custom": {"weight": weight}}, headers=headers
            )
            assert r.status_code == 201, r.get_json()
        r = client.post("/api/v1/zoo/pets", json={"title": "x", "custom": {"weight": -1}}, headers=headers)
        assert r.status_code == 422 and "custom.weight" in r.get_json()["errors"]
        r = client.get("/api/v1/zoo/pets?weight__gt=5", headers=headers)
        assert [p["title"] for p in r.get_json()] == ["dog"]
