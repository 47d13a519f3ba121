"""pytest plugin for crm-core and plugin authors (entry point ``pytest11``).

Fixtures:

- ``db_url``: a fresh, fully migrated database for one test, parametrized over SQLite and, when a
  server is reachable (``CRM_TEST_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``),
  PostgreSQL. Set ``CRM_TEST_REQUIRE_POSTGRES=1`` (CI does) to fail instead of skipping.
- ``app``, ``client``, ``db``: the app built on that database with every installed plugin, its test
  client and its peewee database. The test body runs inside an app context; each request of the
  client runs in a new one of its own, as in production (``RequestPerContextClient``).
- ``register_plugin(plugin, name)``: an app that also has a throwaway plugin registered and migrated.
- ``make_user(...)`` and ``admin_headers``: users with roles and departments, and their auth headers.
- ``fast_hashing``: cheap argon2 parameters for suites that create many users.

Helpers for plugin suites (which import only this module, ``crm_core.browser_testing`` and
``crm_core.plugin_api``): ``user_with_token``, ``deliver_events``, ``run_cli``, ``TEST_PASSWORD``.

Each test gets its own database: a copy of a template migrated once per session (a file copy on
SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so tests never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask.testing import FlaskClient

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
TEST_PASSWORD = "Test-Passw0rd!"


class RequestPerContextClient(FlaskClient):
    """A Flask test client that runs every request in an app context of its own, as a WSGI server
    does: ``flask.g`` starts empty on each request and ``teardown_appcontext`` runs after each.

    Flask reuses an app context that is already pushed for the same app, so with the plain client
    every request of a test would share the fixture's context and its ``g``: per-request caches
    (grants, metadata version) would survive from one request to the next and statement counts
    would be lower than in production. The test body keeps its own context for direct calls.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def requests_in_their_own_context(app):
    """Make ``app.test_client()`` a :class:`RequestPerContextClient`; returns ``app``. The
    fixtures do it for every app they hand out; call it for an app a test builds itself."""
    app.test_client_class = RequestPerContextClient
    return app


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
        from .db import database

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
    removed afterwards: never ``./instance`` of whatever folder the tests run from."""
    import tempfile

    from .app import create_app
    from .migrate import migrate

    with tempfile.TemporaryDirectory(prefix="crm-migrate-") as scratch:
        config = {"DATABASE_URL": url, "TESTING": True, "INSTANCE_PATH": instance_path or scratch}
        app = create_app(config, plugins=plugins)
        crm = app.extensions["crm"]
        with app.app_context():
            migrate(crm.db, crm.plugins)
        crm.db.close()


def _backends():
    return ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def crm_templates(tmp_path_factory):
    templates = Templates(tmp_path_factory)
    yield templates
    templates.drop_all()


@pytest.fixture(params=_backends())
def db_url(request, crm_templates):
    """URL of a fresh migrated database; parametrized over SQLite and PostgreSQL."""
    if request.param == "postgresql" and crm_templates.pg_url is None:
        pytest.skip("PostgreSQL not reachable (set CRM_TEST_POSTGRES_URL)")
    url, drop = crm_templates.fresh(request.param)
    yield url
    from .db import database

    if database.obj is not None and not database.is_closed():
        database.close()
    drop()


@pytest.fixture
def app_config(tmp_path):
    """Settings for the test app; override this fixture to change them."""
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret-key",
        "WTF_CSRF_ENABLED": True,
    }


class AppCache:
    """Apps built once per session and re-pointed at each test's fresh database.

    Building an app costs most of a second (the OpenAPI document is generated as blueprints are
    registered), far more than a test. An app holds no data of its own, so between tests it gets
    the new database, its original config back and its rate-limit counters reset. Apps are keyed
    by backend, config and the ``CRM_*`` environment, so a test with other settings gets its own.
    """

    def __init__(self, instance_path):
        self.instance_path = instance_path
        self.apps: dict = {}

    def get(self, config: dict, url: str):
        from .app import create_app

        env = sorted(
            (k, v) for k, v in os.environ.items() if k.startswith("CRM_") and not k.startswith("CRM_TEST_")
        )
        settings = {k: v for k, v in config.items() if k != "INSTANCE_PATH"}
        key = (url.split(":", 1)[0], repr(sorted((k, repr(v)) for k, v in settings.items())), repr(env))
        entry = self.apps.get(key)
        if entry is None:
            app = create_app({**settings, "INSTANCE_PATH": self.instance_path, "DATABASE_URL": url})
            requests_in_their_own_context(app)
            entry = self.apps[key] = (app, dict(app.config))
            return app
        app, pristine = entry
        rebind(app, url)
        app.config.clear()
        app.config.update({**pristine, "DATABASE_URL": url})
        limiter = app.extensions.get("crm_limiter")
        if limiter is not None and getattr(limiter, "_storage", None) is not None:  # None: limits off
            limiter.reset()
        return app


def rebind(app, url: str) -> None:
    """Point ``app`` (and the global database proxy) at the database at ``url``."""
    from .db import open_database

    app.extensions["crm"].db = open_database(url)


@pytest.fixture(scope="session")
def crm_app_cache(tmp_path_factory):
    return AppCache(str(tmp_path_factory.mktemp("crm-instance")))


@pytest.fixture
def app(db_url, app_config, crm_app_cache):
    """The CRM app with every installed plugin, on a fresh database (the app itself is reused
    across tests with the same settings; see ``AppCache``)."""
    application = crm_app_cache.get(app_config, db_url)
    ctx = application.app_context()
    ctx.push()
    yield application
    ctx.pop()
    application.extensions["crm"].db.close()


@pytest.fixture
def client(app):
    """Flask test client of ``app``; each request runs in a fresh app context
    (:class:`RequestPerContextClient`)."""
    return app.test_client()


@pytest.fixture
def db(app):
    """The peewee database ``app`` is bound to."""
    return app.extensions["crm"].db


@pytest.fixture
def register_plugin(db_url, app_config):
    """``register_plugin(plugin, name="test_plugin") -> app``: build an app with a throwaway plugin
    registered (besides the installed ones) and its migrations applied to the test database."""
    from .app import create_app
    from .migrate import migrate

    built = []

    def register(plugin, name="test_plugin"):
        application = create_app({**app_config, "DATABASE_URL": db_url}, plugins=[(name, plugin)])
        requests_in_their_own_context(application)
        crm = application.extensions["crm"]
        with application.app_context():
            migrate(crm.db, crm.plugins)
        built.append(application)
        return application

    yield register
    for application in built:
        application.extensions["crm"].db.close()


@pytest.fixture
def fast_hashing(monkeypatch):
    """Cheap argon2 parameters (and the matching dummy hash for unknown users) for tests that
    create many users and are not about hashing cost. The core's own suite turns it on for every
    test (``tests/conftest.py``); a plugin's suite can do the same with an autouse fixture."""
    from argon2 import PasswordHasher

    from . import auth
    from .auth import passwords

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    monkeypatch.setattr(auth, "_DUMMY_HASH", hasher.hash("not-a-real-password-0"))


@pytest.fixture
def make_user(app):
    """``make_user(username=None, roles=("admin",), department_id=None) -> (user, headers)``: a user
    with a bearer token, and the ``Authorization`` headers to use it."""

    def make(username=None, roles=("admin",), department_id=None, **extra):
        name = username or f"user_{uuid.uuid4().hex[:8]}"
        return user_with_token(name, roles, department_id=department_id, **extra)

    return make


@pytest.fixture
def admin_headers(make_user):
    """Authorization headers of a fresh admin."""
    return make_user("admin_user")[1]


class TaskOutcome:
    """A finished task seen like the synchronous answer it replaced: ``status_code`` 200 when it
    is done (``get_json()`` the result), else the code of its error (``get_json()`` the error)."""

    def __init__(self, task: dict):
        self.task = task
        self.status_code = 200 if task["status"] == "done" else (task.get("error") or {}).get("code", 500)

    def get_json(self):
        return self.task["result"] if self.task["status"] == "done" else self.task["error"]


def follow_task(client, response, headers) -> TaskOutcome:
    """Run the task a ``202`` answer queued (as the scheduler would) and return its outcome; a
    response that is not a 202 is returned as it is."""
    if response.status_code != 202:
        return response
    from .jobs.tasks import run_pending

    run_pending(client.application)
    task = client.get(response.headers["Location"], headers=headers)
    assert task.status_code == 200, task.get_json()
    return TaskOutcome(task.get_json())


# --- helpers for plugin suites, which import only this module, crm_core.browser_testing and
# crm_core.plugin_api (tests/test_plugin_api.py); each is the core's own function, imported when
# called so that loading this pytest plugin imports no core module before coverage starts


def user_with_token(username: str, roles=("admin",), password: str = TEST_PASSWORD, **extra):
    """``(user, headers)``: a new user with ``roles`` (``create_user``; ``extra`` as there: name,
    department_id...) and the ``Authorization`` headers of a bearer token of theirs. Call it in an
    app context; the ``make_user`` fixture is the same for tests that have ``app``."""
    from .auth import create_user, issue_token

    user = create_user(username, password, roles=list(roles), **extra)
    raw, _ = issue_token(user)
    return user, {"Authorization": f"Bearer {raw}"}


def deliver_events(limit: int | None = None) -> int:
    """Deliver the committed, pending events to every ``crm_event`` hook now, as the scheduler's
    dispatch job would (in an app context); returns how many were handled."""
    from .events import dispatch_pending

    return dispatch_pending(limit=limit)


def run_cli(app, *args: str):
    """Run the ``crm <args>`` command that one of ``app``'s plugins adds through ``crm_cli`` (the
    core's capabilities are plugins too: ``templates apply``, ``events dispatch``...; a plugin
    registered with ``register_plugin`` included) against ``app``; returns click's ``Result``
    (``exit_code``, ``output``). The commands of ``crm_core.cli`` itself (migrate, run...) are not
    there: this module sits beside it, not above it (``.importlinter``)."""
    import click

    group = click.Group("crm")
    app.extensions["crm"].plugins.hook.crm_cli(group=group)
    return app.test_cli_runner().invoke(group, list(args))
