"""The `crm` command line, driven as a user would: CliRunner for most, one real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_core.cli import build_cli


@pytest.fixture
def crm(db_url, tmp_path):
    """Run `crm ARGS...` against the test database; returns the click Result."""
    env = {
        "CRM_DATABASE_URL": db_url,
        "CRM_INSTANCE_PATH": str(tmp_path / "instance"),
        "CRM_SECRET_KEY": "cli-test-secret",
    }

    def run(*args, extra_env=None):
        runner = CliRunner()
        return runner.invoke(
            build_cli(), list(args), env={**env, **(extra_env or {})}, catch_exceptions=False
        )

    return run


@pytest.fixture
def login(db_url, tmp_path):
    """Log in over HTTP on a fresh app (the CLI builds its own, so none is pushed here)."""
    from crm_core.app import create_app

    def do(username, password):
        app = create_app({"DATABASE_URL": db_url, "INSTANCE_PATH": str(tmp_path / "web"), "TESTING": True})
        return app.test_client().post("/api/v1/auth/token", json={"username": username, "password": password})

    return do


def test_help_lists_every_command(crm):
    out = crm("--help").output
    for command in ["init", "migrate", "run", "serve", "plugins", "create-user", "routes"]:
        assert f"  {command}" in out


def test_migrate_twice_is_a_no_op(crm):
    first = crm("migrate")
    assert first.exit_code == 0
    again = crm("migrate")
    assert again.exit_code == 0 and "up to date" in again.output


def test_init_creates_the_first_admin_once(crm, login):
    result = crm("init", extra_env={"CRM_ADMIN_USERNAME": "boss", "CRM_ADMIN_PASSWORD": "Boss-Passw0rd"})
    assert result.exit_code == 0 and "created admin user: boss" in result.output
    again = crm("init", extra_env={"CRM_ADMIN_USERNAME": "boss", "CRM_ADMIN_PASSWORD": "Boss-Passw0rd"})
    assert "admin exists: boss" in again.output
    assert login("boss", "Boss-Passw0rd").status_code == 200


def test_init_generates_and_prints_a_password(crm, login):
    out = crm("init").output
    password = out.split("password: ")[1].split()[0]
    assert login("admin", password).status_code == 200


def test_create_user_then_login(crm, login):
    result = crm("create-user", "carol", "--password", "Carol-Passw0rd", "--role", "admin")
    assert result.exit_code == 0, result.output
    assert login("carol", "Carol-Passw0rd").status_code == 200


@pytest.mark.parametrize(
    "args, message",
    [
        (["dave", "--password", "short"], "password"),
        (["dave", "--password", "Dave-Passw0rd", "--role", "wizard"], "Unknown role"),
        (["dave", "--password", "Dave-Passw0rd", "--department", "999"], "No department 999"),
    ],
)
def test_create_user_refuses_bad_input(crm, args, message):
    result = crm("create-user", *args)
    assert result.exit_code != 0 and message in result.output


def test_create_user_twice_is_refused(crm):
    crm("create-user", "erin", "--password", "Erin-Passw0rd")
    result = crm("create-user", "erin", "--password", "Erin-Passw0rd")
    assert result.exit_code != 0 and "already exists" in result.output


def test_plugins_lists_core_capabilities(crm):
    rows = json.loads(crm("plugins", "--json").output)
    auth = next(r for r in rows if r["name"] == "core.auth")
    assert auth["enabled"] and "crm_migrations" in auth["hooks"] and auth["version"]


def test_routes_lists_the_api(crm):
    assert "/api/v1/health" in crm("routes").output


@pytest.mark.parametrize(
    "env, message",
    [
        ({"CRM_NO_SUCH_SETTING": "1"}, "CRM_NO_SUCH_SETTING"),
        ({"CRM_MAX_CONTENT_LENGTH": "lots"}, "MAX_CONTENT_LENGTH"),
        ({"CRM_AUDIT_RETENTION_DAYS": "30"}, "AUDIT_RETENTION_DAYS"),
        ({"CRM_DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
    ],
)
def test_invalid_configuration_stops_with_a_clear_error(env, message, tmp_path):
    full_env = {**os.environ, "CRM_INSTANCE_PATH": str(tmp_path), **env}
    exe = Path(sys.executable).parent / "crm"
    proc = subprocess.run([str(exe), "migrate"], env=full_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_instance_config_file(tmp_path):
    from crm_core.config import ConfigError, load_config

    (tmp_path / "crm.toml").write_text("token_ttl_seconds = 60\n")
    assert load_config({"INSTANCE_PATH": str(tmp_path)}, environ={})["TOKEN_TTL_SECONDS"] == 60
    (tmp_path / "crm.toml").write_text('colour = "blue"\n')
    with pytest.raises(ConfigError, match="COLOUR"):
        load_config({"INSTANCE_PATH": str(tmp_path)}, environ={})


def test_migrate_keeps_the_history_of_a_renamed_capability(crm, db_url):
    """A database migrated when custom fields were ``core.metadata`` (history table
    ``crm_migrations_core_metadata``) upgrades without re-running those migrations or losing the
    fields defined in it: the history is adopted under the new name ``core.custom``."""
    from playhouse.db_url import connect

    assert crm("migrate").exit_code == 0
    assert crm("fields", "add", "customers", "credit_score", "--type", "int").exit_code == 0
    db = connect(db_url.replace("postgresql://", "postgres://"))
    db.execute_sql('ALTER TABLE "crm_migrations_core_custom" RENAME TO "crm_migrations_core_metadata"')
    db.close()

    result = crm("migrate")
    assert result.exit_code == 0 and "up to date" in result.output, result.output
    db = connect(db_url.replace("postgresql://", "postgres://"))
    assert db.table_exists("crm_migrations_core_custom")
    assert not db.table_exists("crm_migrations_core_metadata")
    names = [r[0] for r in db.execute_sql("SELECT name FROM metadata_field").fetchall()]
    db.close()
    assert "credit_score" in names
