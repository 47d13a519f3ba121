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
``crm_core.plugin_api``): ``user_with_token``, ``deliver_events``, ``run_cli``, ``TEST_PASSWORD``,
and ``install(tmp_path, core, *plugins)`` (:mod:`crm_core.testing.installs`: a new virtual
environment with them pip-installed, for "installed alone" tests).

Each test gets its own database: a copy of a template migrated once per session (a file copy on
SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so tests never see each other's rows. Those
databases, and throwaway ones for benchmarks, are made in :mod:`crm_core.testing.databases`.
"""

from __future__ import annotations

import os
import uuid

import pytest
from flask.testing import FlaskClient

# the databases' helpers stay importable from here, where plugin suites and benchmarks find them
from .databases import (  # noqa: F401
    DEFAULT_PG_URL,
    TEST_SECRET_KEY,
    PostgresReset,
    Templates,
    migrate_url,
    pg_execute,
    postgres_server_url,
    scratch_database,
    url_with_database,
)
from .installs import Install, install  # noqa: F401

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
    # lazy: pytest loads this plugin (pytest11) in every run, before coverage starts
    from ..db import database

    if database.obj is not None and not database.is_closed():
        database.close()
    drop()


@pytest.fixture
def app_config(tmp_path):
    """Settings for the test app; override this fixture to change them."""
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": TEST_SECRET_KEY,
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
        # lazy: the app pulls in the whole core, and pytest loads this plugin (pytest11) in every run
        from ..app import create_app

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
    # lazy: pytest loads this plugin (pytest11) in every run, before coverage starts
    from ..db import open_database

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
    # lazy: the app pulls in the whole core, and pytest loads this plugin (pytest11) in every run
    from ..app import create_app
    from ..migrate import migrate  # lazy for the same reason

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

    # lazy: pytest loads this plugin (pytest11) in every run, before coverage starts
    from .. import auth
    from ..auth import passwords  # lazy for the same reason

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
    # lazy: pytest loads this plugin (pytest11) in every run, before coverage starts
    from ..jobs.tasks import run_pending

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
    # lazy: pytest loads this plugin (pytest11) in every run, before coverage starts
    from ..auth import create_user, issue_token

    user = create_user(username, password, roles=list(roles), **extra)
    raw, _ = issue_token(user)
    return user, {"Authorization": f"Bearer {raw}"}


def deliver_events(limit: int | None = None) -> int:
    """Deliver the committed, pending events to every ``crm_event`` hook now, as the scheduler's
    dispatch job would (in an app context); returns how many were handled."""
    # lazy: pytest loads this plugin (pytest11) in every run, before coverage starts
    from ..events import dispatch_pending

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


def statements_of(db, call) -> tuple:
    """``(what call() returned, [sql, ...])``: the statements ``db`` ran meanwhile, in order, as
    its ``execute_sql`` was given them (statements deferred to travel with the next one, see
    ``crm_core.pgpool``, included)."""
    real_execute, real_defer, seen = db.execute_sql, getattr(db, "defer", None), []

    def executing(sql, *args, **kwargs):
        seen.append(sql)
        return real_execute(sql, *args, **kwargs)

    def deferring(sql):
        seen.append(sql)
        return real_defer(sql)

    own = {name: vars(db)[name] for name in ("execute_sql", "defer") if name in vars(db)}
    db.execute_sql = executing
    if real_defer is not None:
        db.defer = deferring
    try:
        result = call()
    finally:
        for name in ("execute_sql", "defer"):
            vars(db).pop(name, None)
        vars(db).update(own)  # (a spy already there stays)
    return result, seen


def conforms_to_openapi(client, path: str, response, method: str = "get") -> dict:
    """The JSON of ``response`` (a 200), asserted valid against the ``200`` schema that
    ``/api/v1/openapi.json`` declares for ``method`` ``path`` (an OpenAPI template such as
    ``/api/v1/education/students/{customer_id}/hours``). An operation that declares no ``200``
    fails here: clients generated from the document would read the answer as an error."""
    from openapi_schema_validator import OAS30Validator  # lazy: only these tests need it

    document = client.get("/api/v1/openapi.json").get_json()
    assert response.status_code == 200, (response.status_code, response.get_json())
    body = response.get_json()
    declared = document["paths"][path][method]["responses"]
    assert "200" in declared, f"{method.upper()} {path} declares no 200 answer: {sorted(declared)}"
    schema = declared["200"]["content"]["application/json"]["schema"]
    # "#/components/..." references resolve against the root: give the schema the components
    errors = sorted(
        OAS30Validator({**schema, "components": document["components"]}).iter_errors(body), key=str
    )
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    return body
