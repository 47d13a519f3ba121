"""pytest plugin for crm-core and plugin authors (entry point ``pytest11``).

Fixtures:

- ``db_url``: a fresh, fully migrated database for one test, parametrized over SQLite and, when a
  server is reachable (``CRM_TEST_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``),
  PostgreSQL. Set ``CRM_TEST_REQUIRE_POSTGRES=1`` (CI does) to fail instead of skipping.
- ``app``, ``client``, ``db``: the app built on that database with every installed plugin, its test
  client and its peewee database.
- ``register_plugin(plugin, name)``: an app that also has a throwaway plugin registered and migrated.
- ``make_user(...)`` and ``admin_headers``: users with roles and departments, and their auth headers.

Each test gets its own database: a copy of a template migrated once per session (a file copy on
SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so tests never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
TEST_PASSWORD = "Test-Passw0rd!"


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


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _pg_execute(url: str, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(_dsn(url))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


class Templates:
    """Migrated template databases, one per backend for the session."""

    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory.mktemp("crm-db")
        self.pg_url = postgres_server_url()
        self.made: dict[str, str] = {}
        self.run_id = uuid.uuid4().hex[:8]

    def template(self, backend: str) -> str:
        if backend not in self.made:
            if backend == "sqlite":
                url = f"sqlite:///{self.tmp / 'template.db'}"
            else:
                name = f"crm_tmpl_{self.run_id}"
                _pg_execute(self.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                _pg_execute(self.pg_url, f'CREATE DATABASE "{name}"')
                url = _with_db(self.pg_url, name)
            migrate_url(url)
            self.made[backend] = url
        return self.made[backend]

    def fresh(self, backend: str) -> tuple[str, callable]:
        """A new database copied from the template, and a function that drops it."""
        template = self.template(backend)
        if backend == "sqlite":
            path = self.tmp / f"t-{uuid.uuid4().hex[:10]}.db"
            shutil.copy(urlsplit(template).path, path)
            return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
        name = f"crm_t_{self.run_id}_{uuid.uuid4().hex[:8]}"
        _pg_execute(self.pg_url, f'CREATE DATABASE "{name}" TEMPLATE "{urlsplit(template).path[1:]}"')
        return _with_db(self.pg_url, name), lambda: _pg_execute(
            self.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        )

    def drop_all(self):
        for backend, url in self.made.items():
            if backend == "postgresql":
                _pg_execute(self.pg_url, f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')


def migrate_url(url: str, plugins=None) -> None:
    """Apply every migration of the installed plugins (and ``plugins``) to the database at ``url``."""
    from .app import create_app
    from .migrate import migrate

    app = create_app({"DATABASE_URL": url, "TESTING": True}, plugins=plugins)
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


@pytest.fixture
def app(db_url, app_config):
    """The CRM app with every installed plugin, on a fresh database."""
    from .app import create_app

    application = create_app({**app_config, "DATABASE_URL": db_url})
    ctx = application.app_context()
    ctx.push()
    yield application
    ctx.pop()
    application.extensions["crm"].db.close()


@pytest.fixture
def client(app):
    """Flask test client of ``app``."""
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
        crm = application.extensions["crm"]
        with application.app_context():
            migrate(crm.db, crm.plugins)
        built.append(application)
        return application

    yield register
    for application in built:
        application.extensions["crm"].db.close()


@pytest.fixture
def make_user(app):
    """``make_user(username=None, roles=("admin",), department_id=None) -> (user, headers)``: a user
    with a bearer token, and the ``Authorization`` headers to use it."""
    from .auth import create_user, issue_token

    def make(username=None, roles=("admin",), department_id=None, **extra):
        user = create_user(
            username or f"user_{uuid.uuid4().hex[:8]}",
            TEST_PASSWORD,
            roles=roles,
            department_id=department_id,
            **extra,
        )
        raw, _ = issue_token(user)
        return user, {"Authorization": f"Bearer {raw}"}

    return make


@pytest.fixture
def admin_headers(make_user):
    """Authorization headers of a fresh admin."""
    return make_user("admin_user")[1]
