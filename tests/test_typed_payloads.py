"""Hook payloads built with the types of ``crm_core.plugin_api`` (``PermissionSpec``, ``JobSpec``,
``ActionSpec``, ``NavEntry``: TypedDicts, so plain dicts) work exactly like literal dicts."""

from __future__ import annotations

from marshmallow import Schema, fields

from crm_core import hookimpl
from crm_core.plugin_api import ActionSpec, JobSpec, NavEntry, PermissionSpec
from crm_core.testing import run_cli, user_with_token


class Params(Schema):
    note = fields.String(required=True)


class Typed:
    @hookimpl
    def crm_permissions(self):
        return [PermissionSpec(resource="typed.things", actions=["read", "poke"], label="Things")]

    @hookimpl
    def crm_jobs(self):
        return [JobSpec(id="typed:tick", func=lambda ctx: ctx.now.year, trigger="interval", seconds=60)]

    @hookimpl
    def crm_actions(self):
        return [ActionSpec(name="typed.poke", label="Poke", schema=Params, run=lambda p, e, c: None)]

    @hookimpl
    def crm_nav(self):
        return [
            NavEntry(label="Typed", endpoint="web.dashboard", permission="typed.things:read", kind="menu")
        ]


def test_typed_payloads_are_accepted_like_dicts(register_plugin):
    app = register_plugin(Typed(), "typed")
    with app.app_context():
        _admin, headers = user_with_token("ty", ["admin"])
    client = app.test_client()
    resources = client.get("/api/v1/permissions", headers=headers).get_json()["resources"]
    assert "poke" in resources["typed.things"]["actions"]
    jobs = {j["id"]: j for j in client.get("/api/v1/jobs", headers=headers).get_json()}
    assert jobs["typed:tick"]["error"] is None
    run = run_cli(app, "jobs", "run", "typed:tick", "--at", "2031-05-01")
    assert run.exit_code == 0 and "-> 2031" in run.output, run.output
    actions = {a["name"] for a in client.get("/api/v1/automations/actions", headers=headers).get_json()}
    assert "typed.poke" in actions
