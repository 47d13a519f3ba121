"""PostgreSQL backups with PostgreSQL's own tools: ``pg_dump --format=custom`` to back up;
``pg_restore`` and ``psql`` to restore, in one transaction; found on PATH (or in
``/usr/lib/postgresql/<major>/bin``, where Debian and Ubuntu install each major version).

The connection's parts reach the tools through the ``PG*`` environment variables (the password
as ``PGPASSWORD``), never on the command line, where every user of the machine could read them.
The manifest's facts are read in a REPEATABLE READ transaction whose snapshot ``pg_dump`` is told
to use (``--snapshot``), so they describe exactly the data dumped.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import peewee as pw

from .manifest import BackupError
from .snapshot import facts

#: peewee/psycopg2 connection parameters and the libpq environment variables that carry them
ENV_OF = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
}
TOOL_TIMEOUT = 6 * 3600  # seconds: a dump of a big database takes long, a hung one must end


def _environment(db: pw.PostgresqlDatabase) -> dict:
    env = dict(os.environ)
    for key, value in db.connect_params.items():
        if key in ENV_OF and value is not None:
            env[ENV_OF[key]] = str(value)
    return env


def _conninfo(db: pw.PostgresqlDatabase) -> str:
    """``dbname='...'`` for ``--dbname``: a conninfo string, so a database name that looks like a
    URL or holds ``=`` is taken as a name."""
    name = db.database.replace("\\", "\\\\").replace("'", "\\'")
    return f"dbname='{name}'"


def tool_version(binary: str) -> int:
    """The major version of a PostgreSQL client tool (``pg_dump (PostgreSQL) 15.20`` -> 15)."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out) or re.search(r"(\d+)\.\d+", out)
    if match is None:
        raise BackupError(f"cannot tell the version of {binary} (it printed {out.strip()!r})")
    return int(match.group(1))


def find_tool(name: str, at_least: int) -> str:
    """The path of ``name`` (pg_dump, pg_restore) of major version ``at_least`` or newer: the
    one on PATH, else one in ``/usr/lib/postgresql/<major>/bin``; a clear error otherwise."""
    found = []
    on_path = shutil.which(name)
    candidates = [on_path] if on_path else []
    candidates += sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(re.sub(r"\D", "", p.split("/")[4]) or 0),
    )
    for path in candidates:
        version = tool_version(path)
        found.append(f"{path} ({version})")
        if version >= at_least:
            return path
    if not found:
        raise BackupError(
            f"{name} not found on PATH: install the PostgreSQL client tools of version {at_least} or "
            "newer (Debian/Ubuntu: postgresql-client)"
        )
    raise BackupError(
        f"{name} must be version {at_least} or newer (the server's, or the dump's), found only "
        f"{', '.join(found)}: install postgresql-client-{at_least} or put its bin folder first on PATH"
    )


def server_major(cursor) -> int:
    """The server's major version, through a DB-API ``cursor``."""
    cursor.execute("SHOW server_version_num")
    return int(cursor.fetchone()[0]) // 10000


def _run(command: list[str], env: dict, what: str) -> None:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish within {TOOL_TIMEOUT} s") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise BackupError(f"{what} failed (exit status {done.returncode}): {tail}")


def dump(db: pw.PostgresqlDatabase, target: Path) -> dict:
    """Dump the database to ``target`` (custom format); returns its :func:`facts` plus the server
    and pg_dump versions."""
    import psycopg2  # the driver peewee already uses; a connection of our own holds the snapshot

    conn = psycopg2.connect(dbname=db.database, **_driver_params(db))
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            major = server_major(cur)
            cur.execute("SELECT pg_export_snapshot()")
            snapshot_id = cur.fetchone()[0]
            found = facts(cur, "postgresql")
            pg_dump = find_tool("pg_dump", major)
            command = [pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot_id}"]
            command += [f"--file={target}", f"--dbname={_conninfo(db)}"]
            _run(command, _environment(db), "pg_dump")
        found.update(server_version=major, pg_dump_version=tool_version(pg_dump))
        return found
    finally:
        conn.rollback()
        conn.close()


def _driver_params(db: pw.PostgresqlDatabase) -> dict:
    # the pool's own keywords are not the driver's
    pool_only = {"max_connections", "stale_timeout", "timeout", "timeout_seconds"}
    return {k: v for k, v in db.connect_params.items() if k not in pool_only}


#: the TOC entries (``pg_restore --list``) a restore drops first: "TYPE schema name owner"
_DROPPED = re.compile(
    r"^\d+; \d+ \d+ (TABLE|SEQUENCE|FUNCTION|MATERIALIZED VIEW|VIEW)(?! DATA| ATTACH| OWNED| SET) "
    r"(\S+) (.+) (\S+)$"
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def drop_statements(toc: str) -> list[str]:
    """``DROP ... IF EXISTS ... CASCADE`` of every table, sequence, view and function the dump
    (its table of contents, ``toc``) holds, so the dump's objects are made anew. (pg_restore's own
    ``--clean`` fails on partitioned tables: it drops a partition's inherited primary key first.)"""
    statements = []
    for line in toc.splitlines():
        match = _DROPPED.match(line.strip())
        if match is None:
            continue
        kind, schema, name, _owner = match.groups()
        args = ""
        if kind == "FUNCTION":
            name, _, rest = name.partition("(")
            args = "(" + rest
            if not re.fullmatch(r"\([A-Za-z0-9_ ,.\[\]\"]*\)", args):
                raise BackupError(f"cannot drop the function {name}{args} named in the dump")
        if not (_NAME.match(schema) and _NAME.match(name)):
            raise BackupError(f"unexpected object name in the dump: {schema}.{name}")
        statements.append(f'DROP {kind} IF EXISTS "{schema}"."{name}"{args} CASCADE;')
    return statements


def load(db: pw.PostgresqlDatabase, source_file: Path, manifest: dict) -> None:
    """Restore the dump ``source_file`` over the database in ONE transaction (nothing changes if
    any statement fails): every table, sequence, view and function the dump holds is dropped and
    made again from it, with its data. Owners and grants are not restored: the objects belong to
    the user restoring. Objects of the database that the dump does not hold are left alone."""
    cursor = db.execute_sql("SHOW server_version_num")
    major = int(cursor.fetchone()[0]) // 10000
    # an archive is readable by pg_restore of its pg_dump's version or newer
    pg_restore = find_tool("pg_restore", max(major, int(manifest.get("pg_dump_version") or 0)))
    psql = find_tool("psql", major)
    db.close()
    if hasattr(db, "close_all"):
        db.close_all()  # idle pooled connections would keep the dropped tables' cache
    env = _environment(db)
    listed = subprocess.run([pg_restore, "--list", str(source_file)], capture_output=True, text=True, env=env)
    if listed.returncode != 0:
        raise BackupError(
            f"pg_restore cannot read the dump, nothing was changed: {listed.stderr.strip()[-500:]}"
        )
    drops = "\n".join(drop_statements(listed.stdout))
    # the dump as SQL (pg_restore needs no connection for that) fed to psql after the drops, in one
    # transaction committed only once pg_restore has written all of it: a dump that breaks off
    # halfway changes nothing. Piped, so no plaintext copy of the data is written to disk.
    command = [psql, "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1"]
    command += [f"--dbname={_conninfo(db)}", "--file=-"]
    as_sql = [pg_restore, "--no-owner", "--no-privileges", "--file=-", str(source_file)]
    # the tools' messages go to files: a full pipe nobody reads would stall them
    with tempfile.TemporaryFile() as restore_log, tempfile.TemporaryFile() as psql_log:
        consumer = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=psql_log, stderr=subprocess.STDOUT, env=env
        )
        producer = subprocess.Popen(as_sql, stdout=subprocess.PIPE, stderr=restore_log, env=env)
        try:
            consumer.stdin.write(f"BEGIN;\n{drops}\n".encode())
            while chunk := producer.stdout.read(1 << 16):
                consumer.stdin.write(chunk)
            if producer.wait() == 0:
                consumer.stdin.write(b"COMMIT;\n")
        except BrokenPipeError:
            producer.kill()  # psql stopped at an error (ON_ERROR_STOP): it says which below
        finally:
            producer.stdout.close()
            producer.wait()
            with contextlib.suppress(BrokenPipeError):  # psql gone already
                consumer.stdin.close()
            consumer.wait(timeout=TOOL_TIMEOUT)
        restore_log.seek(0)
        psql_log.seek(0)
        restore_errors = restore_log.read().decode(errors="replace").strip()
        psql_errors = psql_log.read().decode(errors="replace").strip()
    if consumer.returncode != 0:
        tail = "\n".join(psql_errors.splitlines()[-8:])
        raise BackupError(
            f"restoring the dump failed, nothing was changed (psql exit status {consumer.returncode}): {tail}"
        )
    if producer.returncode != 0:
        raise BackupError(
            f"pg_restore could not read the whole dump, nothing was changed (exit status "
            f"{producer.returncode}): {restore_errors[-800:]}"
        )
