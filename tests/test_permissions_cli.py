"""``crm roles`` and ``crm departments``: roles are data from the command line too, and audited."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from crm_core.audit.models import AuditEntry
from crm_core.auth.models import Role
from crm_core.permissions.models import FieldRule, Grant


@pytest.fixture
def crm(app):
    from crm_core.cli import build_cli

    cli = build_cli()
    env = {"CRM_DATABASE_URL": app.config["DATABASE_URL"], "CRM_INSTANCE_PATH": app.config["INSTANCE_PATH"]}
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(cli, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_roles_cli_round_trip(crm):
    crm("roles", "create", "auditor", "--label", "Auditors")
    crm("roles", "grant", "auditor", "audit", "read", "all")
    crm("roles", "grant", "auditor", "customers", "read", "department_tree")
    crm("roles", "grant", "auditor", "customers", "read", "department")  # replaces the scope
    crm("roles", "field-rule", "auditor", "customers", "phone", "hidden")
    role = Role.get(Role.name == "auditor")
    assert {(g.resource, g.action, g.scope) for g in Grant.select().where(Grant.role == role)} == {
        ("audit", "read", "all"),
        ("customers", "read", "department"),
    }
    assert FieldRule.get(FieldRule.role == role).rule == "hidden"
    out = crm("roles", "list")
    assert "auditor: 0 user(s)" in out and "grant customers:read scope=department" in out
    crm("roles", "field-rule", "auditor", "customers", "phone", "read-write")
    assert not FieldRule.select().where(FieldRule.role == role).exists()
    crm("roles", "revoke", "auditor", "audit", "read")
    assert "no such grant" in crm("roles", "revoke", "auditor", "audit", "read")
    crm("roles", "delete", "auditor")
    assert not Role.select().where(Role.name == "auditor").exists()
    actions = [
        e.action for e in AuditEntry.select().where(AuditEntry.resource == "roles").order_by(AuditEntry.id)
    ]
    assert actions[0] == "create" and actions[-1] == "delete" and "update" in actions
    assert all(e.client_id == "cli" for e in AuditEntry.select().where(AuditEntry.resource == "roles"))


@pytest.mark.parametrize(
    "args, message",
    [
        (("roles", "grant", "nobody", "customers", "read", "all"), "no role"),
        (("roles", "grant", "sales", "nonsense", "read", "all"), "Unknown resource"),
        (("roles", "grant", "sales", "customers", "fly", "all"), "Unknown action"),
        (("roles", "grant", "admin", "customers", "read", "own"), "fixed"),
        (("roles", "delete", "sales"), "built-in"),
    ],
)
def test_roles_cli_refusals(crm, args, message):
    assert message in crm(*args, code=1)


def test_reset_builtin_restores_defaults(crm):
    crm("roles", "revoke", "sales", "customers", "read")
    sales = Role.get(Role.name == "sales")
    assert (
        not Grant.select()
        .where(Grant.role == sales, Grant.resource == "customers", Grant.action == "read")
        .exists()
    )
    crm("roles", "reset-builtin", "--yes")
    assert (
        Grant.get(Grant.role == sales, Grant.resource == "customers", Grant.action == "read").scope
        == "department"
    )


def test_departments_cli(crm):
    out = crm("departments", "create", "HQ")
    hq_id = int(out.split("id ")[1].split(",")[0])
    crm("departments", "create", "Sales", "--parent", str(hq_id))
    assert "No department" in crm("departments", "create", "X", "--parent", "999999", code=1)
    listing = crm("departments", "list")
    assert listing.splitlines()[0].startswith("HQ") and listing.splitlines()[1].startswith("  Sales")


def test_audit_jobs_run_from_the_job_runner(crm, client, admin_headers):
    client.post("/api/v1/customers", json={"name": "to seal"}, headers=admin_headers)
    # entries are sealed as they are written; the job only picks up rows inserted unsealed
    assert not AuditEntry.select().where(AuditEntry.seq.is_null()).exists()
    crm("jobs", "run", "audit:seal")
    assert not AuditEntry.select().where(AuditEntry.seq.is_null()).exists()
    crm("jobs", "run", "core:retention")  # the audit log's purge is a retention policy
    assert "intact" in crm("audit", "verify")
