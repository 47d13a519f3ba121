"""Plugin loading: entry points, disabling, broken plugins, dependency order, unknown hooks."""

import types

import pluggy
import pytest

from crm_core import hookimpl
from crm_core.plugins import PluginError, PluginManager, disabled_from_env


def plugin_module(name, requires=(), **hooks):
    module = types.ModuleType(name)
    module.requires = requires
    for hook_name, func in hooks.items():
        setattr(module, hook_name, hookimpl(func))
    return module


class FakeEntryPoint:
    def __init__(self, name, loader, version="1.2.3"):
        self.name, self._loader = name, loader
        self.dist = types.SimpleNamespace(version=version)

    def load(self):
        return self._loader()


@pytest.fixture
def entry_points(monkeypatch):
    eps = []
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: eps if group == "crm_core" else [])
    return eps


def test_core_capabilities_are_registered_as_plugins(entry_points):
    manager = PluginManager()
    manager.load()
    names = manager.plugin_names()
    assert "core.auth" in names and "core.api" in names
    assert all(info["source"] == "core" for info in manager.listing() if info["name"].startswith("core."))


def test_broken_plugin_is_reported_and_skipped(entry_points):
    def explode():
        raise ImportError("No module named 'crm_missing_dep'")

    entry_points.append(FakeEntryPoint("broken", explode))
    manager = PluginManager()
    manager.load()
    info = {p["name"]: p for p in manager.listing()}["broken"]
    assert info["status"] == "failed" and "crm_missing_dep" in info["error"]
    assert "broken" not in manager.plugin_names()


def test_disabled_plugin_is_listed_but_not_loaded(entry_points):
    loaded = []
    entry_points.append(FakeEntryPoint("quiet", lambda: loaded.append(1) or plugin_module("quiet")))
    manager = PluginManager(disabled={"quiet"})
    manager.load()
    assert not loaded
    assert {p["name"]: p for p in manager.listing()}["quiet"]["status"] == "disabled"


def test_requires_orders_registration_whatever_the_install_order(entry_points):
    calls = []
    first = plugin_module("base", crm_startup=lambda app: calls.append("base"))
    second = plugin_module("addon", requires=("base",), crm_startup=lambda app: calls.append("addon"))
    entry_points.extend([FakeEntryPoint("addon", lambda: second), FakeEntryPoint("base", lambda: first)])
    manager = PluginManager()
    manager.load()
    names = manager.plugin_names()
    assert names.index("base") < names.index("addon")


def test_missing_requirement_skips_the_plugin_with_a_reason(entry_points):
    lonely = plugin_module("lonely", requires=("absent",))
    entry_points.append(FakeEntryPoint("lonely", lambda: lonely))
    manager = PluginManager()
    manager.load()
    info = {p["name"]: p for p in manager.listing()}["lonely"]
    assert info["status"] == "failed" and "absent" in info["error"]


def test_dependency_cycle_is_an_error(entry_points):
    a = plugin_module("a", requires=("b",))
    b = plugin_module("b", requires=("a",))
    entry_points.extend([FakeEntryPoint("a", lambda: a), FakeEntryPoint("b", lambda: b)])
    with pytest.raises(PluginError, match="cycle"):
        PluginManager().load()


def test_hook_with_a_typo_is_caught(entry_points):
    typo = types.ModuleType("typo")
    typo.crm_blueprint = hookimpl(lambda: [])  # missing the trailing "s"
    entry_points.append(FakeEntryPoint("typo", lambda: typo))
    with pytest.raises(pluggy.PluginValidationError):
        PluginManager().load()


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", set()),
        ("loyalty", {"loyalty"}),
        (" loyalty , channel_tracking ,", {"loyalty", "channel_tracking"}),
    ],
)
def test_disabled_from_env(value, expected):
    assert disabled_from_env(value) == expected


def test_crm_plugins_disabled_reaches_the_app(db_url, app_config, monkeypatch):
    from crm_core.app import create_app

    monkeypatch.setenv("CRM_PLUGINS_DISABLED", "core.api")
    app = create_app({**app_config, "DATABASE_URL": db_url})
    assert "core.api" not in app.extensions["crm"].plugins.plugin_names()
    assert app.test_client().get("/api/v1/health").status_code == 404


def test_register_plugin_fixture_mounts_a_throwaway_plugin(register_plugin):
    from flask.views import MethodView

    from crm_core.api import Blueprint
    from crm_core.auth import public

    blp = Blueprint("throwaway", __name__, url_prefix="/api/v1/throwaway")

    @blp.route("/ping")
    @public
    class Ping(MethodView):
        def get(self):
            return {"pong": True}

    plugin = types.SimpleNamespace(crm_blueprints=hookimpl(lambda: [blp]))
    app = register_plugin(plugin, "throwaway")
    assert app.test_client().get("/api/v1/throwaway/ping").json == {"pong": True}
    assert "/api/v1/throwaway/ping" in app.test_client().get("/api/v1/openapi.json").json["paths"]
