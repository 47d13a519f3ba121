"""``crm backup`` and ``crm restore`` on SQLite and PostgreSQL: data (customers, an encrypted custom
field, the audit log) back exactly after changes and deletions, the audit chain intact, the
encrypted value still opening; customers erased after the backup erased again; bad files, a file
of the other backend, one from a newer crm-core and a restore without --yes refused with a clear
message and nothing changed; a SQLite backup taken while another thread writes is consistent."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
import threading

import pytest

from crm_core import hookimpl
from crm_core.app import create_app
from crm_core.audit.models import AuditEntry, AuditHead
from crm_core.backup import BackupError, read_manifest
from crm_core.backup.postgres import find_tool
from crm_core.crypto.models import DataKey, SubjectKey
from crm_core.entities.models import Customer
from crm_core.migrate import migrate
from crm_core.testing import rebind, run_cli, scratch_database, user_with_token

C = "/api/v1/customers"
ID_NUMBER = "110105199003071234"


@pytest.fixture
def live(app, db_url, crm_templates):
    """The app on a database the test may replace wholesale: the test's own SQLite copy, or on
    PostgreSQL a scratch database (the shared test database is reset between tests, not dropped)."""
    if db_url.startswith("sqlite"):
        yield db_url
        return
    with scratch_database(crm_templates.pg_url, "crm_backup") as url:
        rebind(app, url)
        crm = app.extensions["crm"]
        migrate(crm.db, crm.plugins)
        try:
            yield url
        finally:
            crm.db.close_all()
            rebind(app, db_url)


@pytest.fixture
def admin(live):
    return user_with_token("backup_admin")[1]


def create(client, headers, name, **custom):
    r = client.post(C, json={"name": name, "custom": custom}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


@pytest.fixture
def people(client, admin):
    r = client.post(
        "/api/v1/fields/customers",
        json={"name": "id_number", "type": "string", "encrypted": True, "blind_index": True},
        headers=admin,
    )
    assert r.status_code == 201, r.get_json()
    return {
        "li": create(client, admin, "Li", id_number=ID_NUMBER),
        "wang": create(client, admin, "Wang"),
        "zhao": create(client, admin, "Zhao"),
    }


def rows() -> dict:
    """What must come back exactly: customers (the encrypted value as stored), the audit log and
    its head, the key ring."""
    return {
        "customers": list(Customer.select().order_by(Customer.id).dicts()),
        "audit": list(AuditEntry.select().order_by(AuditEntry.id).dicts()),
        "head": list(AuditHead.select().dicts()),
        "data_keys": list(DataKey.select().order_by(DataKey.id).dicts()),
        "subject_keys": list(SubjectKey.select().order_by(SubjectKey.id).dicts()),
    }


def backup(app, path):
    result = run_cli(app, "backup", str(path))
    assert result.exit_code == 0, result.output
    return result


def test_restore_brings_back_exactly_what_was_backed_up(app, client, admin, people, tmp_path):
    assert run_cli(app, "audit", "seal").exit_code == 0
    before = rows()
    file = tmp_path / "crm.backup"
    result = backup(app, file)
    assert "master key" in result.output and "SECRET_KEY" in result.output  # what to keep with it

    # changes, deletions, additions after the backup
    assert client.patch(f"{C}/{people['li']}", json={"name": "Li (moved)"}, headers=admin).status_code == 200
    assert client.delete(f"{C}/{people['wang']}", headers=admin).status_code in (200, 204)
    create(client, admin, "Qian", id_number="310104198812120021")
    assert rows() != before

    refused = run_cli(app, "restore", str(file))
    assert refused.exit_code != 0 and "--yes" in refused.output
    assert Customer.get_by_id(people["li"]).name == "Li (moved)"  # nothing changed

    restored = run_cli(app, "restore", str(file), "--yes")
    assert restored.exit_code == 0, restored.output
    assert "audit log intact" in restored.output
    after = rows()
    # exactly what was backed up, plus the restore's own audit entry at the end of the chain
    assert after["audit"][:-1] == before["audit"] and after["audit"][-1]["action"] == "restore"
    assert after["head"][0]["seq"] == before["head"][0]["seq"] + 1
    assert {k: v for k, v in after.items() if k not in ("audit", "head")} == {
        k: v for k, v in before.items() if k not in ("audit", "head")
    }
    verified = run_cli(app, "audit", "verify")
    assert verified.exit_code == 0 and "intact" in verified.output, verified.output
    # the log says that a restore happened, from which backup
    entry = AuditEntry.select().where(AuditEntry.action == "restore").get()
    assert entry.resource == "backup" and file.name in entry.after and entry.client_id == "cli"
    # the encrypted value opens (same master key), and is found by its blind index
    body = client.get(f"{C}/{people['li']}", headers=admin).get_json()
    assert body["name"] == "Li" and body["custom"]["id_number"] == ID_NUMBER
    found = client.get(C, query_string={"id_number": ID_NUMBER}, headers=admin).get_json()
    assert [item["id"] for item in found] == [people["li"]]
    # the app goes on writing to the restored database
    create(client, admin, "After")
    assert run_cli(app, "audit", "verify").exit_code == 0


def test_customers_erased_after_the_backup_are_erased_again(app, client, admin, people, tmp_path):
    file = tmp_path / "crm.backup"
    backup(app, file)
    erased = run_cli(app, "privacy", "erase", str(people["zhao"]), "--as", "backup_admin", "--yes")
    assert erased.exit_code == 0, erased.output

    restored = run_cli(app, "restore", str(file), "--yes")
    assert restored.exit_code == 0, restored.output
    assert f"customer {people['zhao']}, erased since the backup: erased again" in restored.output
    assert Customer.get_by_id(people["zhao"]).name != "Zhao"
    assert Customer.get_by_id(people["li"]).name == "Li"
    assert client.get(f"{C}/{people['li']}", headers=admin).get_json()["custom"]["id_number"] == ID_NUMBER
    assert run_cli(app, "audit", "verify").exit_code == 0


def rewrite_manifest(source, target, change):
    """A copy of backup ``source`` with its manifest changed by ``change(manifest)``."""
    with tarfile.open(source) as tar, tarfile.open(target, "w") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()
            if member.name == "manifest.json":
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))


def test_files_that_must_not_be_restored_are_refused(app, client, admin, people, tmp_path):
    file = tmp_path / "crm.backup"
    backup(app, file)
    client.patch(f"{C}/{people['li']}", json={"name": "Li (kept)"}, headers=admin)

    junk = tmp_path / "junk.backup"
    junk.write_text("not a backup at all")
    other = tmp_path / "other.backup"
    backend = "postgresql" if app.extensions["crm"].db.__class__.__name__.startswith("Sqlite") else "sqlite"
    rewrite_manifest(file, other, lambda m: m.update(backend=backend))
    newer = tmp_path / "newer.backup"
    rewrite_manifest(
        file, newer, lambda m: m["migrations"]["crm_migrations_core_entities"].append("9999_future")
    )
    foreign_key = tmp_path / "foreign-key.backup"
    rewrite_manifest(file, foreign_key, lambda m: m.update(master_key_ids=["0123456789abcdef"]))

    cases = [
        (tmp_path / "missing.backup", "no such file"),
        (junk, "not a crm-core backup"),
        (other, f"backup is of a {backend} database"),
        (newer, "newer crm-core"),
        (foreign_key, "master key"),
    ]
    for path, message in cases:
        result = run_cli(app, "restore", str(path), "--yes")
        assert result.exit_code != 0, (path, result.output)
        assert message in result.output, (path, result.output)
    assert Customer.get_by_id(people["li"]).name == "Li (kept)"  # none of them touched the data


MIGRATION_1 = """
import peewee as pw


def up(migrator, db):
    class Note(pw.Model):
        text = pw.TextField()

        class Meta:
            database = db
            table_name = "backup_test_note"

    Note.create_table()
"""
MIGRATION_2 = """
import peewee as pw


def up(migrator, db):
    migrator.migrate(migrator.add_column("backup_test_note", "stars", pw.IntegerField(default=0)))
"""


class NotesPlugin:
    """A throwaway plugin whose second migration arrives after the backup (an upgrade)."""

    def __init__(self, directory):
        self.directory = directory

    @hookimpl
    def crm_migrations(self):
        return str(self.directory)


def test_an_older_backup_is_migrated_on_restore(app_config, live, tmp_path):
    migrations = tmp_path / "notes_migrations"
    migrations.mkdir()
    (migrations / "0001_notes.py").write_text(MIGRATION_1)
    older = create_app(
        {**app_config, "DATABASE_URL": live}, plugins=[("backup_notes", NotesPlugin(migrations))]
    )
    crm = older.extensions["crm"]
    try:
        with older.app_context():
            migrate(crm.db, crm.plugins)
            crm.db.execute_sql("INSERT INTO backup_test_note (text) VALUES ('kept')")
            backup(older, tmp_path / "older.backup")
            # the upgrade: the plugin's next migration is applied to the live database
            (migrations / "0002_stars.py").write_text(MIGRATION_2)
            migrate(crm.db, crm.plugins)
            crm.db.execute_sql("DELETE FROM backup_test_note")

            restored = run_cli(older, "restore", str(tmp_path / "older.backup"), "--yes")
            assert restored.exit_code == 0, restored.output
            assert "migrated backup_notes: 0002_stars" in restored.output
            assert "audit log intact" in restored.output
            rows = crm.db.execute_sql("SELECT text, stars FROM backup_test_note").fetchall()
            assert [tuple(r) for r in rows] == [("kept", 0)]
    finally:
        crm.db.close()


def test_sqlite_backup_while_another_thread_writes_is_consistent(app, db_url, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's online backup API (PostgreSQL: pg_dump reads one snapshot)")
    stop = threading.Event()
    written = []

    def writer():
        with app.app_context():
            db = app.extensions["crm"].db
            i = 0
            while not stop.is_set():
                with db.atomic():  # two rows a transaction: a torn copy would hold one of them
                    Customer.create(name=f"pair-{i}-a")
                    Customer.create(name=f"pair-{i}-b")
                written.append(i)
                i += 1
            db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.01)
        backup(app, tmp_path / "a.backup")
        backup(app, tmp_path / "b.backup")
    finally:
        stop.set()
        thread.join()
    assert len(written) > 20
    for name in ("a.backup", "b.backup"):
        with tarfile.open(tmp_path / name) as tar:
            tar.extract("database.sqlite3", tmp_path / name.replace(".", "_"))
        conn = sqlite3.connect(tmp_path / name.replace(".", "_") / "database.sqlite3")
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        a = conn.execute("SELECT count(*) FROM customer WHERE name LIKE 'pair-%-a'").fetchone()[0]
        b = conn.execute("SELECT count(*) FROM customer WHERE name LIKE 'pair-%-b'").fetchone()[0]
        conn.close()
        assert a == b and a > 0


def test_postgresql_tools_of_the_wrong_version_are_passed_over_or_named(
    app, live, people, tmp_path, monkeypatch
):
    if live.startswith("sqlite"):
        pytest.skip("pg_dump and pg_restore are PostgreSQL's")

    # an old pg_dump first on PATH: the server's own version is found beside it
    fake = tmp_path / "bin"
    fake.mkdir()
    old = fake / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\nexit 1\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    result = backup(app, tmp_path / "crm.backup")
    assert "written to" in result.output
    manifest = read_manifest(tmp_path / "crm.backup")
    assert manifest["pg_dump_version"] >= manifest["server_version"]

    # none new enough: the error names what was found and what to install
    with pytest.raises(
        BackupError, match=r"pg_dump must be version 99 or newer.*\(9\).*\(15\).*postgresql-client-99"
    ):
        find_tool("pg_dump", 99)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("glob.glob", lambda pattern: [])  # a machine without any PostgreSQL client
    with pytest.raises(BackupError, match="pg_dump not found on PATH: install the PostgreSQL client tools"):
        find_tool("pg_dump", 15)


def test_a_backup_whose_database_breaks_off_changes_nothing(app, client, admin, people, tmp_path):
    file = tmp_path / "crm.backup"
    backup(app, file)
    client.patch(f"{C}/{people['li']}", json={"name": "Li (kept)"}, headers=admin)
    cut = tmp_path / "cut.backup"
    with tarfile.open(file) as tar, tarfile.open(cut, "w") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()
            if member.name != "manifest.json":
                data = data[: len(data) * 2 // 3]  # a copy that broke off
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))

    result = run_cli(app, "restore", str(cut), "--yes")
    assert result.exit_code != 0
    assert "nothing was changed" in result.output, result.output
    assert Customer.get_by_id(people["li"]).name == "Li (kept)"
    assert run_cli(app, "audit", "verify").exit_code == 0


def spy_tool(folder, name, real):
    """A ``name`` first on PATH that notes its arguments and PGPASSWORD, then runs the real one."""
    script = folder / name
    script.write_text(
        f'#!/bin/sh\necho "$@" >> "{folder}/{name}.argv"\necho "$PGPASSWORD" >> "{folder}/{name}.password"\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)


def test_the_password_reaches_the_postgresql_tools_only_through_the_environment(
    app, live, people, tmp_path, monkeypatch
):
    if live.startswith("sqlite"):
        pytest.skip("pg_dump and pg_restore are PostgreSQL's")
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("pg_dump", "pg_restore", "psql"):
        spy_tool(folder, name, find_tool(name, 0))
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    # the server trusts local connections, so any password logs in: what matters is where it goes
    rebind(app, live.replace("postgresql://postgres@", "postgresql://postgres:Pa55-w0rd!@"))

    backup(app, tmp_path / "crm.backup")
    restored = run_cli(app, "restore", str(tmp_path / "crm.backup"), "--yes")
    assert restored.exit_code == 0, restored.output
    for name in ("pg_dump", "pg_restore", "psql"):
        assert "Pa55-w0rd!" not in (folder / f"{name}.argv").read_text()
    for name in ("pg_dump", "psql"):  # the two that connect
        assert "Pa55-w0rd!" in (folder / f"{name}.password").read_text()
