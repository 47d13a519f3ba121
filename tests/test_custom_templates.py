"""Industry templates from a throwaway plugin's ``crm_entities`` hook, and the ``crm fields`` /
``crm templates`` commands (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import json

import click
import pytest

from crm_core import hookimpl
from crm_core.custom.cli import register
from crm_core.custom.models import AppliedTemplate, FieldDefinition, ObjectType

TEMPLATE = {
    "name": "education",
    "version": "1",
    "objects": [
        {
            "name": "course",
            "label": {"en": "Course", "zh-CN": "课程"},
            "fields": [
                {"name": "level", "type": "int", "min": 1, "max": 9, "filterable": True},
                {"name": "subject", "type": "choice", "choices": ["math", "art"]},
            ],
        }
    ],
    "fields": [
        {"entity": "customers", "name": "student_no", "type": "string", "unique": True},
        {"entity": "customers", "name": "grade", "type": "int", "label": {"en": "Grade", "zh-CN": "年级"}},
    ],
}


class EducationPlugin:
    """A plugin whose only contribution is a template (what the education plugin will ship)."""

    def __init__(self, template):
        self.template = template

    @hookimpl
    def crm_entities(self):
        return [self.template]


def cli():
    group = click.Group("crm")
    register(group)
    return group


def run(app, *args):
    result = app.test_cli_runner().invoke(cli(), list(args))
    return result.exit_code, result.output


def snapshot():
    fields = [
        (f.entity, f.name, f.type, f.label_en, f.min_value, f.max_value, f.unique, f.filterable, f.source)
        for f in FieldDefinition.select().order_by(FieldDefinition.entity, FieldDefinition.name)
    ]
    return (
        fields,
        [t.name for t in ObjectType.select()],
        [(t.name, t.version) for t in AppliedTemplate.select()],
    )


def test_template_applied_twice_is_applied_once(register_plugin):
    # registering the plugin migrates, and migrating applies its templates (crm_after_migrate)
    app = register_plugin(EducationPlugin(TEMPLATE), "school")
    with app.app_context():
        code, out = run(app, "templates")
        assert code == 0 and "education" in out and "not applied" not in out, out

        code, out = run(app, "templates", "apply")
        assert code == 0 and "education 1: unchanged" in out, out
        first = snapshot()
        assert ("customers", "student_no") in [(e, n) for e, n, *_ in first[0]]
        assert first[1] == ["course"] and first[2] == [("education", "1")]

        code, out = run(app, "templates", "apply", "education")
        assert code == 0 and "unchanged" in out, out
        assert snapshot() == first

        code, out = run(app, "templates", "--json")
        assert json.loads(out)[0]["applied_version"] == "1"

        # the applied template works through the API like hand-made definitions
        client = app.test_client()
        from crm_core.auth import create_user, issue_token
        from crm_core.testing import TEST_PASSWORD

        raw, _ = issue_token(create_user("tpl_admin", TEST_PASSWORD, roles=("admin",)))
        headers = {"Authorization": f"Bearer {raw}"}
        r = client.post(
            "/api/v1/objects/course", json={"name": "Algebra", "custom": {"level": 4}}, headers=headers
        )
        assert r.status_code == 201, r.get_json()
        r = client.post(
            "/api/v1/customers", json={"name": "s", "custom": {"student_no": "S1"}}, headers=headers
        )
        assert r.status_code == 201
        r = client.post(
            "/api/v1/customers", json={"name": "t", "custom": {"student_no": "S1"}}, headers=headers
        )
        assert r.status_code == 409


def test_new_template_version_updates_its_own_fields(register_plugin):
    app = register_plugin(EducationPlugin(TEMPLATE), "school")
    with app.app_context():
        assert run(app, "templates", "apply")[0] == 0
        # a field someone added by hand is never touched by a template
        assert run(app, "fields", "update", "customers", "grade", "--label-en", "Year")[0] == 0
        FieldDefinition.update(source="").where(FieldDefinition.name == "grade").execute()

    v2 = copy.deepcopy(TEMPLATE)
    v2["version"] = "2"
    v2["objects"][0]["fields"][0]["max"] = 12
    v2["objects"][0]["fields"].append({"name": "credits", "type": "decimal"})
    v2["fields"][1]["label"] = {"en": "Grade level"}
    app2 = register_plugin(EducationPlugin(v2), "school")  # migrating applies version 2
    with app2.app_context():
        code, out = run(app2, "templates", "apply")
        assert code == 0 and "education 2: unchanged" in out, out
        fields = {(e, n): rest for e, n, *rest in snapshot()[0]}
        assert fields[("objects.course", "level")][3] == "12"  # max raised by the new version
        assert ("objects.course", "credits") in fields
        assert fields[("customers", "grade")][1] == "Year"  # hand-edited field kept
        assert snapshot()[2] == [("education", "2")]


def test_fields_cli(app):
    code, out = run(
        app,
        "fields",
        "add",
        "customers",
        "vip_level",
        "--type",
        "choice",
        "--choice",
        "gold",
        "--choice",
        "silver",
        "--label-zh",
        "会员等级",
        "--filterable",
    )
    assert code == 0 and "created customers.vip_level" in out, out
    code, out = run(app, "fields", "list", "customers", "--json")
    defs = json.loads(out)
    assert (
        defs[0]["name"] == "vip_level" and defs[0]["label"]["zh-CN"] == "会员等级" and defs[0]["filterable"]
    )
    code, out = run(app, "fields", "add", "customers", "email", "--type", "string")
    assert code != 0 and "taken" in out
    code, out = run(app, "fields", "update", "customers", "vip_level", "--choice", "gold")
    assert code == 0, out
    code, out = run(app, "fields", "add", "customers", "age", "--type", "int", "--min", "0", "--max", "150")
    assert code == 0
    code, out = run(app, "fields", "list", "customers")
    assert "age" in out and "vip_level" in out and "filterable" in out
    code, out = run(app, "fields", "delete", "customers", "age")
    assert code == 0 and "values kept" in out
    code, out = run(app, "fields", "delete", "customers", "nope")
    assert code != 0 and "No custom field" in out
    code, out = run(app, "fields", "list", "no_such_entity")
    assert code != 0 and "Unknown entity" in out


def test_crm_migrate_applies_pending_templates(register_plugin):
    from crm_core.cli import migrate_command

    # register_plugin runs the same migrate() as `crm migrate`: the template is applied there
    app = register_plugin(EducationPlugin(TEMPLATE), "school")
    group = click.Group("crm")
    group.add_command(migrate_command)
    with app.app_context():
        assert snapshot()[2] == [("education", "1")]
        first = snapshot()
        result = app.test_cli_runner().invoke(group, ["migrate"])
        assert result.exit_code == 0 and "up to date" in result.output, result.output
        assert snapshot() == first  # already applied: nothing changes


def test_a_broken_template_is_named_and_changes_nothing(app):
    from crm_core.custom import templates
    from crm_core.errors import APIError

    broken = copy.deepcopy(TEMPLATE)
    broken["fields"].append({"entity": "customers", "name": "email", "type": "string"})  # a core field
    app.extensions["crm"].plugins.register(EducationPlugin(broken), "broken_edu")
    with pytest.raises(APIError) as caught:
        templates.apply_all(["education"])
    assert caught.value.code == 422 and "'education' of plugin 'broken_edu'" in caught.value.message
    assert snapshot() == ([], [], [])  # all or nothing
