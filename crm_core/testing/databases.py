"""The databases of the test fixtures (and of benchmarks and scripts): migrated templates copied
for each test, a PostgreSQL database put back into its migrated state between tests, and
throwaway PostgreSQL databases.

Part of the pytest plugin :mod:`crm_core.testing` (which re-exports every name here), so it imports
no core module at load time either: each is imported by the function that needs it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: the SECRET_KEY of the test apps (``app_config``) and of the apps that migrate their templates
TEST_SECRET_KEY = "test-secret-key"


def postgres_server_url() -> str | None:
    """The PostgreSQL URL tests may use, or None when no server answers."""
    url = os.environ.get("CRM_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    if not url:
        return None
    try:
        import psycopg2

        psycopg2.connect(_dsn(url), connect_timeout=2).close()
        return url
    except Exception:
        if os.environ.get("CRM_TEST_REQUIRE_POSTGRES") == "1":
            raise RuntimeError(f"PostgreSQL required for tests but unreachable at {url}") from None
        return None


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://").replace("postgres://", "postgresql://", 1)


def url_with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` on the same server (benchmarks and tests)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def pg_execute(url: str, sql: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE) on the server of ``url``."""
    import psycopg2

    conn = psycopg2.connect(_dsn(url))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@contextmanager
def scratch_database(server_url: str, prefix: str, keep: bool = False):
    """A new, empty PostgreSQL database ``<prefix>_<random>`` on the server of ``server_url``
    for the block; yields its URL. Afterwards the bound connection is closed and the database
    dropped (even with connections still open), unless ``keep``. For benchmarks and scripts."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    pg_execute(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield url_with_database(server_url, name)
    finally:
        # lazy: pytest loads this plugin (pytest11) in every run, before coverage starts
        from ..db import database

        if database.obj is not None and not database.is_closed():
            database.close()
        if keep:
            print(f"kept database {name}")
        else:
            pg_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Templates:
    """Migrated template databases, one per backend for the session."""

    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory.mktemp("crm-db")
        self.pg_url = postgres_server_url()
        self.made: dict[str, str] = {}
        self.run_id = uuid.uuid4().hex[:8]
        self.pg_reset: PostgresReset | None = None

    def template(self, backend: str) -> str:
        if backend not in self.made:
            if backend == "sqlite":
                url = f"sqlite:///{self.tmp / 'template.db'}"
            else:
                name = f"crm_tmpl_{self.run_id}"
                pg_execute(self.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                pg_execute(self.pg_url, f'CREATE DATABASE "{name}"')
                url = url_with_database(self.pg_url, name)
            migrate_url(url, instance_path=str(self.tmp / "instance"))
            self.made[backend] = url
        return self.made[backend]

    def fresh(self, backend: str) -> tuple[str, callable]:
        """A database in the just-migrated state, and a function to call when the test is done.

        SQLite: a copy of the template file. PostgreSQL: one database per session, put back into
        the template's state before each test (``PostgresReset``); creating a database per test
        costs about a second on this kind of machine, a reset about a tenth of that.
        """
        template = self.template(backend)
        if backend == "sqlite":
            path = self.tmp / f"t-{uuid.uuid4().hex[:10]}.db"
            shutil.copy(urlsplit(template).path, path)
            return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
        if self.pg_reset is None:
            self.pg_reset = PostgresReset(template)
        else:
            self.pg_reset.reset()
        return template, lambda: None

    def drop_all(self):
        if self.pg_reset is not None:
            self.pg_reset.close()
        for backend, url in self.made.items():
            if backend == "postgresql":
                pg_execute(self.pg_url, f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')


def _pg_value(value):
    """A value read back from PostgreSQL, ready to be written again (json columns come back as
    dicts and lists, which psycopg2 only writes when wrapped)."""
    from psycopg2.extras import Json

    return Json(value) if isinstance(value, dict | list) else value


class PostgresReset:
    """Puts a PostgreSQL database back into the state it had when this object was made.

    Remembers the tables, indexes, sequences and rows of the freshly migrated database (seeded
    roles, migration histories...). ``reset()`` ends other sessions on it, drops tables and indexes
    that tests created (runtime indexes of custom fields, a throwaway plugin's tables), empties
    every table, and puts the seeded rows and sequence positions back, in one round trip. DELETE
    rather than TRUNCATE: on nearly empty tables it costs microseconds instead of new files.
    """

    def __init__(self, url: str):
        import psycopg2

        self.url = url
        self.conn = psycopg2.connect(_dsn(url))
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            self.tables = self._tables(cur)
            self.all_tables = set(self._tables(cur, partitions=True))
            self.indexes = self._indexes(cur)
            self.seeds = {}
            for table in self.tables:
                cur.execute(f'SELECT * FROM "{table}"')
                rows = cur.fetchall()
                if rows:
                    self.seeds[table] = ([d.name for d in cur.description], rows)
            cur.execute(
                "SELECT s.relname, t.relname, a.attname FROM pg_class s "
                "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
                "JOIN pg_class t ON t.oid = d.refobjid "
                "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
                "WHERE s.relkind = 'S'"
            )
            sequences = cur.fetchall()
            restore = ["SET session_replication_role = replica"]
            restore += [f'DELETE FROM "{t}"' for t in self.tables]
            for table, (columns, rows) in self.seeds.items():
                names = ", ".join(f'"{c}"' for c in columns)
                values = ", ".join(
                    cur.mogrify(
                        "(" + ", ".join(["%s"] * len(columns)) + ")", [_pg_value(v) for v in row]
                    ).decode()
                    for row in rows
                )
                restore.append(f'INSERT INTO "{table}" ({names}) VALUES {values}')
            for seq, table, column in sequences:
                cur.execute(f'SELECT COALESCE(MAX("{column}"), 0) + 1 FROM "{table}"')
                restore.append(f"SELECT setval('\"{seq}\"', {cur.fetchone()[0]}, false)")
            restore.append("SET session_replication_role = DEFAULT")
            self.restore_sql = ";\n".join(restore)

    @staticmethod
    def _tables(cur, partitions: bool = False) -> list[str]:
        cur.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND (%s OR NOT c.relispartition) "
            "ORDER BY 1",
            (partitions,),
        )
        return [r[0] for r in cur.fetchall()]

    @staticmethod
    def _indexes(cur) -> set[str]:
        cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        return {r[0] for r in cur.fetchall()}

    def reset(self) -> None:
        """Back to the migrated state (see the class docstring)."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            # tables (and monthly partitions) tests created go first: their indexes go with them
            for table in set(self._tables(cur, partitions=True)) - self.all_tables:
                cur.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
            for index in self._indexes(cur) - self.indexes:
                cur.execute(f'DROP INDEX IF EXISTS "{index}"')
            cur.execute(self.restore_sql)

    def close(self) -> None:
        self.conn.close()


def migrate_url(url: str, plugins=None, instance_path: str | None = None) -> None:
    """Apply every migration of the installed plugins (and ``plugins``) to the database at ``url``.

    The app it builds keeps its instance folder in ``instance_path``, or in a temporary folder
    removed afterwards: never ``./instance`` of whatever folder the tests run from. The events
    migrating emitted are then dispatched."""
    # lazy: the app pulls in the whole core, and pytest loads this plugin (pytest11) in every run
    from ..app import create_app
    from ..events import dispatch_pending  # lazy for the same reason
    from ..migrate import migrate  # lazy for the same reason

    with tempfile.TemporaryDirectory(prefix="crm-migrate-") as scratch:
        # the test apps' SECRET_KEY (``app_config``): what migrating writes to the audit chain (a
        # plugin's template adding fields) is sealed under the key the tests' apps verify with
        config = {
            "DATABASE_URL": url,
            "TESTING": True,
            "INSTANCE_PATH": instance_path or scratch,
            "SECRET_KEY": TEST_SECRET_KEY,
        }
        app = create_app(config, plugins=plugins)
        crm = app.extensions["crm"]
        with app.app_context():
            migrate(crm.db, crm.plugins)
            # what migrating emitted (a plugin template's field.created) is delivered, as the
            # scheduler does right after `crm init`: each test starts from a quiet outbox
            dispatch_pending()
        crm.db.close()
