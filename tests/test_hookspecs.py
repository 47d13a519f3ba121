"""Every hook is documented and typed, and the documentation is the one generated from the hookspecs."""

import inspect
import io
import json
import runpy
import types
import typing
from pathlib import Path

import pytest

from crm_core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(n for n, f in vars(hookspecs).items() if n.startswith("crm_") and callable(f))


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_full_docstring(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert len(doc) > 80, f"{name}: docstring too short to say when it is called and what it returns"
    assert ".. versionadded::" in doc


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_in_the_plugin_guide_with_its_signature(name):
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert f"### `{name}{inspect.signature(getattr(hookspecs, name))}`" in text


def test_plugin_guide_is_up_to_date():
    generator = runpy.run_path(str(ROOT / "scripts" / "gen_plugin_docs.py"))
    assert (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8") == generator["render"](), (
        "docs/plugins.md is stale: run python scripts/gen_plugin_docs.py"
    )


PLUGINS = ROOT / "tests" / "plugins"


def test_the_every_hook_plugin_implements_every_hookspec():
    """A new hookspec fails here until ``tests/plugins/every_hook.py`` implements it (and the test
    below then proves the app calls it)."""
    every_hook = runpy.run_path(str(PLUGINS / "every_hook.py"))
    implemented = {n for n, f in every_hook.items() if hasattr(f, "crm_core_impl")}
    assert set(HOOKS) - implemented == set(), "implement these in tests/plugins/every_hook.py"


@pytest.fixture
def every_hook(tmp_path, monkeypatch):
    """``tests/plugins/every_hook.py`` installed as an entry point (a ``dist-info`` on
    ``sys.path``), so apps and the ``crm`` command line load it as they load any plugin; yields
    the module with its ``CALLS`` emptied."""
    import importlib

    dist = tmp_path / "site" / "crm_every_hook-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: crm-every-hook\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[crm_core]\nevery_hook = every_hook\n")
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    module = importlib.import_module("every_hook")
    module.CALLS.clear()
    yield module
    module.CALLS.clear()


def _conforms(value, hint) -> bool:
    """Whether ``value`` is of the annotated type (unions, ``None``, ``type[X]``, protocols)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is type:
        return isinstance(value, type) and issubclass(value, typing.get_args(hint)[0])
    return isinstance(value, origin or hint)


def test_the_app_calls_every_hook_with_arguments_of_the_declared_types(every_hook, db_url, tmp_path):
    """Migrate, run a job and load the demo through ``crm``; create, list, export and erase a
    customer over HTTP; deliver the events; render a page: every hook is called, each argument
    of the type its hookspec annotates."""
    from click.testing import CliRunner

    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token
    from crm_core.browser_testing import web_login
    from crm_core.cli import build_cli
    from crm_core.events.dispatcher import dispatch_pending
    from crm_core.testing import TEST_PASSWORD, follow_task, requests_in_their_own_context

    env = {"CRM_DATABASE_URL": db_url, "CRM_INSTANCE_PATH": str(tmp_path / "instance")}
    for args in (["migrate"], ["jobs", "run", "every_hook:tick"], ["demo-data", "--customers", "12"]):
        result = CliRunner().invoke(build_cli(), args, env=env)
        assert result.exit_code == 0, (args, result.output)
    assert ("every_hook:tick", {}) in every_hook.CALLS
    # the plugin's conversation source: pulled from the start, then from the cursor it returned
    for _ in range(2):
        result = CliRunner().invoke(build_cli(), ["jobs", "run", "core.conversations:pull"], env=env)
        assert result.exit_code == 0 and "'every_hook': " in result.output, result.output
    fetches = [kwargs["cursor"] for name, kwargs in every_hook.CALLS if name == "every_hook:fetch"]
    assert fetches == [None, "1"]
    # the plugin's retention policy: its note from 2000 goes, today's stays
    result = CliRunner().invoke(build_cli(), ["retention", "run"], env=env)
    assert result.exit_code == 0 and "every_hook.notes: 1 deleted" in result.output, result.output
    status = CliRunner().invoke(build_cli(), ["retention", "status"], env=env)
    assert status.exit_code == 0 and "every_hook.notes" in status.output, status.output
    # the plugin's key wrapper wraps the rotated key; its sealed secret moves to that key
    wrapped = {**env, "CRM_ENCRYPTION_KEY_WRAPPER": "every_hook"}
    for args in (["keys", "rotate"], ["keys", "reencrypt"]):
        result = CliRunner().invoke(build_cli(), args, env=wrapped)
        assert result.exit_code == 0, (args, result.output)
    status = CliRunner().invoke(build_cli(), ["keys", "status", "--json"], env=env)
    keys = {k["key_id"]: k for k in json.loads(status.output)}
    assert keys["k2"]["wrapper"] == "every_hook" and keys["k2"]["by_store"]["every_hook.secrets"] == 1
    assert keys["k1"]["by_store"] == {}

    config = {"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": db_url}
    app = requests_in_their_own_context(create_app({**config, "SECRET_KEY": "every-hook"}))
    assert "every_hook" in app.extensions["crm"].plugins.plugin_names()
    assert app.config["EVERY_HOOK_GREETING"] == "hello"  # the default it declared
    with app.app_context():
        admin = create_user("every_hook_admin", TEST_PASSWORD, roles=["admin"])
        headers = {"Authorization": f"Bearer {issue_token(admin)[0]}"}
    client = app.test_client()
    customer = client.post("/api/v1/customers", json={"name": "Hooked"}, headers=headers)
    assert customer.status_code == 201, customer.get_json()
    cid = customer.get_json()["id"]
    # an import reports its rows in batches (crm_records_written)
    upload = {"file": (io.BytesIO(b"name\nImported Hook\n"), "c.csv")}
    imported = client.post(
        "/api/v1/customers/import", data=upload, headers=headers, content_type="multipart/form-data"
    )
    assert follow_task(client, imported, headers).status_code == 200
    message = {"channel": "every_hook", "to": {"customer_id": cid}, "message": {"text": "hello"}}
    queued = client.post("/api/v1/messaging/messages", json=message, headers=headers)
    assert queued.status_code == 202 and queued.get_json()["status"] == "queued", queued.get_json()
    for method, path in [
        ("get", "/api/v1/customers"),
        ("get", "/api/v1/automations/actions"),
        ("get", f"/api/v1/customers/{cid}/privacy-export"),
        ("post", f"/api/v1/customers/{cid}/erase"),
    ]:
        r = getattr(client, method)(path, headers=headers)
        assert r.status_code == 200, (path, r.get_json())
    listed = client.get("/api/v1/permissions", headers=headers).get_json()["resources"]
    assert listed["every_hook.things"]["actions"] == ["read"]
    with app.app_context():
        assert dispatch_pending() > 0
    web = app.test_client()
    assert web_login(web, "every_hook_admin").status_code == 302
    page = web.get("/")
    assert page.status_code == 200 and "Every hook" in page.get_data(as_text=True)
    app.extensions["crm"].db.close()

    namespace = _annotation_namespace()
    called = {name for name, _ in every_hook.CALLS}
    assert set(HOOKS) - called == set(), "hooks the app never called"
    for name, kwargs in every_hook.CALLS:
        if name not in HOOKS:
            continue
        hints = typing.get_type_hints(getattr(hookspecs, name), globalns=namespace)
        assert set(kwargs) == set(hints) - {"return"}, name
        for parameter, value in kwargs.items():
            assert _conforms(value, hints[parameter]), (
                f"{name}({parameter}={value!r}): not {hints[parameter]}"
            )


def _annotation_namespace():
    import click
    import flask
    import flask_smorest
    import peewee

    from crm_core import types
    from crm_core.crypto.rotation import SealedValues
    from crm_core.entities.models import Customer
    from crm_core.messaging.channels import MessageChannel

    return {
        **vars(hookspecs),
        **{name: getattr(types, name) for name in types.__all__},
        "click": click,
        "flask": flask,
        "flask_smorest": flask_smorest,
        "peewee": peewee,
        "Customer": Customer,
        "SealedValues": SealedValues,
        "MessageChannel": MessageChannel,
    }


@pytest.mark.parametrize("name", HOOKS)
def test_hook_annotations_name_real_types(name):
    hints = typing.get_type_hints(getattr(hookspecs, name), globalns=_annotation_namespace())
    assert "return" in hints
    assert set(hints) - {"return"} == set(inspect.signature(getattr(hookspecs, name)).parameters)


@pytest.mark.parametrize(
    "hook, parameter, expected",
    [
        ("crm_permission_check", "actor", "Actor"),
        ("crm_permission_filter", "actor", "Actor"),
        ("crm_record_written", "change", "Change"),
        ("crm_event", "event", "Event"),
    ],
)
def test_actor_change_and_event_are_typed(hook, parameter, expected):
    from crm_core import types

    hints = typing.get_type_hints(getattr(hookspecs, hook), globalns=_annotation_namespace())
    assert hints[parameter] is getattr(types, expected)


def test_the_core_actor_and_values_satisfy_the_types():
    import types as stdlib_types

    from crm_core import types
    from crm_core.auth import Actor
    from crm_core.changes import Change
    from crm_core.events import Event

    actor = Actor(user=stdlib_types.SimpleNamespace(id=3, department_id=None), roles=frozenset({"sales"}))
    assert isinstance(actor, types.Actor)
    assert not isinstance(object(), types.Actor)
    assert types.Change is Change and types.Event is Event
