"""Plugin loading: entry points, disabling, broken plugins, dependency order, unknown hooks."""

import json
import subprocess
import sys
import types
import uuid

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


def test_hook_with_a_typo_is_reported_and_skipped(entry_points):
    typo = types.ModuleType("typo")
    typo.crm_blueprint = hookimpl(lambda: [])  # missing the trailing "s"
    entry_points.append(FakeEntryPoint("typo", lambda: typo))
    manager = PluginManager()
    manager.load()  # pluggy's check_pending finds it; the others still load
    info = {p["name"]: p for p in manager.listing()}["typo"]
    assert info["status"] == "failed" and "unknown hook 'crm_blueprint'" in info["error"]
    assert "typo" not in manager.plugin_names() and "core.auth" in manager.plugin_names()
    manager.pm.check_pending()  # nothing left for pluggy to reject


def test_bad_hookimpl_signature_skips_the_plugin_and_those_requiring_it(entry_points):
    bad = plugin_module("bad", crm_event=lambda evt: None)  # the hookspec's argument is `event`
    addon = plugin_module("addon", requires=("bad",), crm_models=lambda: [])
    entry_points.extend([FakeEntryPoint("bad", lambda: bad), FakeEntryPoint("addon", lambda: addon)])
    manager = PluginManager()
    manager.load()
    infos = {p["name"]: p for p in manager.listing()}
    assert infos["bad"]["status"] == "failed"
    assert "PluginValidationError" in infos["bad"]["error"] and "evt" in infos["bad"]["error"]
    assert infos["addon"]["status"] == "failed" and "'bad'" in infos["addon"]["error"]
    assert "bad" not in manager.plugin_names() and "addon" not in manager.plugin_names()
    assert all(impl.plugin_name != "bad" for impl in manager.hook.crm_event.get_hookimpls())


def test_unknown_hook_skips_plugins_already_registered_that_require_it(entry_points):
    typo = plugin_module("typo")
    typo.crm_evnet = hookimpl(lambda event: None)
    addon = plugin_module("addon", requires=("typo",), crm_models=lambda: [])
    entry_points.extend([FakeEntryPoint("typo", lambda: typo), FakeEntryPoint("addon", lambda: addon)])
    manager = PluginManager()
    manager.load()
    infos = {p["name"]: p for p in manager.listing()}
    assert infos["typo"]["status"] == infos["addon"]["status"] == "failed"
    assert not {"typo", "addon"} & set(manager.plugin_names())


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


# --- through the real app: pluggy's ordering, wrappers and validation ---------------------------


@pytest.fixture
def build_app(db_url, app_config):
    """``build_app((name, plugin), ...) -> app``: like ``register_plugin``, with several plugins."""
    from crm_core.app import create_app
    from crm_core.migrate import migrate

    built = []

    def build(*plugins):
        application = create_app({**app_config, "DATABASE_URL": db_url}, plugins=list(plugins))
        crm = application.extensions["crm"]
        with application.app_context():
            migrate(crm.db, crm.plugins)
        built.append(application)
        return application

    yield build
    for application in built:
        application.extensions["crm"].db.close()


def admin_headers_of(app):
    from crm_core.auth import create_user, issue_token
    from crm_core.testing import TEST_PASSWORD

    with app.app_context():
        raw, _ = issue_token(create_user(f"admin_{uuid.uuid4().hex[:8]}", TEST_PASSWORD, roles=("admin",)))
    return {"Authorization": f"Bearer {raw}"}


def exporter(name, log, **opts):
    """A throwaway plugin whose privacy export says when it was called."""

    def crm_export_customer(customer):
        log.append(name)
        return {"position": len(log)}

    return types.SimpleNamespace(crm_export_customer=hookimpl(**opts)(crm_export_customer))


def privacy_export(app):
    client, headers = app.test_client(), admin_headers_of(app)
    customer = client.post("/api/v1/customers", json={"name": "Order Test"}, headers=headers).json
    r = client.get(f"/api/v1/customers/{customer['id']}/privacy-export", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.json


def test_tryfirst_and_trylast_order_a_hook_the_core_calls(build_app):
    log = []
    app = build_app(
        ("eager", exporter("eager", log, tryfirst=True)),
        ("early", exporter("early", log)),
        ("lazy", exporter("lazy", log, trylast=True)),
        ("late", exporter("late", log)),
    )
    doc = privacy_export(app)
    # pluggy: tryfirst first, then the most recently registered first, trylast last
    assert log == ["eager", "late", "early", "lazy"]
    assert {name: doc["plugins"][name]["position"] for name in log} == {
        "eager": 1,
        "late": 2,
        "early": 3,
        "lazy": 4,
    }


def test_event_consumers_run_in_pluggy_order(build_app):
    from crm_core.events import dispatch_pending

    log = []

    def consumer(name, **opts):
        def crm_event(event):
            if event.type == "customer.created":
                log.append(name)

        return types.SimpleNamespace(crm_event=hookimpl(**opts)(crm_event))

    app = build_app(("first", consumer("first", tryfirst=True)), ("second", consumer("second")))
    client, headers = app.test_client(), admin_headers_of(app)
    assert client.post("/api/v1/customers", json={"name": "Evt"}, headers=headers).status_code == 201
    with app.app_context():
        dispatch_pending()
    assert log == ["first", "second"]


class Wrapper:
    """A throwaway plugin wrapping every privacy export call."""

    def __init__(self):
        self.seen = []

    @hookimpl(wrapper=True)
    def crm_export_customer(self, customer):
        results = yield
        self.seen.append((customer.name, list(results)))
        return [{**result, "wrapped": True} for result in results]


def test_a_wrapper_sees_the_call_and_its_results(build_app):
    log, wrapper = [], Wrapper()
    app = build_app(("wrapper", wrapper), ("exporter", exporter("exporter", log)))
    doc = privacy_export(app)
    assert ("Order Test", [{"position": 1}]) in wrapper.seen
    assert doc["plugins"]["exporter"] == {"position": 1, "wrapped": True}
    assert "wrapper" not in doc["plugins"]  # a wrapper is not a result of its own


class BadSignature:
    """A throwaway plugin whose hook implementation names an argument the hookspec lacks."""

    @hookimpl
    def crm_export_customer(self, person):
        return {"never": "called"}


def test_plugin_with_a_bad_hookimpl_is_skipped_and_reported(build_app, caplog):
    log = []
    with caplog.at_level("ERROR", logger="crm_core.plugins"):
        app = build_app(("badsig", BadSignature()), ("fine", exporter("fine", log)))
    assert "badsig" in caplog.text and "PluginValidationError" in caplog.text
    listing = app.test_client().get("/api/v1/plugins", headers=admin_headers_of(app)).json
    bad = {p["name"]: p for p in listing}["badsig"]
    assert bad["status"] == "failed" and not bad["enabled"]
    assert "PluginValidationError" in bad["error"] and "person" in bad["error"]
    doc = privacy_export(app)  # the app started and the other plugins work
    assert "badsig" not in doc["plugins"] and doc["plugins"]["fine"] == {"position": 1}


def test_crm_plugins_reports_a_plugin_pluggy_rejects(db_url, tmp_path, monkeypatch):
    import importlib.metadata

    from click.testing import CliRunner

    from crm_core.cli import build_cli

    installed = list(importlib.metadata.entry_points(group="crm_core"))
    bad = plugin_module("badsig", crm_cli=lambda cli: None)  # the hookspec's argument is `group`
    monkeypatch.setattr(
        "importlib.metadata.entry_points",
        lambda group: [*installed, FakeEntryPoint("badsig", lambda: bad)] if group == "crm_core" else [],
    )
    env = {"CRM_DATABASE_URL": db_url, "CRM_INSTANCE_PATH": str(tmp_path / "i"), "CRM_SECRET_KEY": "k"}
    result = CliRunner().invoke(build_cli(), ["plugins", "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["badsig"]["status"] == "failed" and "PluginValidationError" in rows["badsig"]["error"]
    assert rows["core.auth"]["status"] == "enabled"


def test_an_app_never_imports_the_test_helpers(tmp_path):
    """Core capabilities are the packages with a hooks.py: finding them must not import the
    others (``crm_core.testing`` imports pytest, which a production install does not have)."""
    code = (
        "import sys\n"
        "from crm_core.app import create_app\n"
        f"create_app({{'TESTING': True, 'DATABASE_URL': 'sqlite:///:memory:', 'INSTANCE_PATH': {str(tmp_path)!r}}})\n"
        "assert not any(m.startswith('crm_core.testing') for m in sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_a_plugin_offers_hooks_of_its_own_to_other_plugins(entry_points):
    """A plugin's ``hookspecs`` are added before its implementations: an adapter plugin
    implements them plainly (no optionalhook), whichever was installed first, and a wrong
    argument is rejected as for the core's hooks."""
    from crm_core import hookspec

    class Specs:
        @hookspec
        def crm_shop_adapters(self, region):
            """Return adapters for ``region``."""

    # the adapter comes first in install order, and requires nothing: its hook is pending a spec
    adapter = plugin_module("adapter", crm_shop_adapters=lambda region: [f"youzan-{region}"])
    broken = plugin_module("broken", crm_shop_adapters=lambda country: ["x"])  # not `region`
    offering = plugin_module("offering", crm_models=lambda: [])
    offering.hookspecs = Specs
    offering.crm_shop_adapters = hookimpl(lambda region: [f"own-{region}"])
    entry_points.extend(
        FakeEntryPoint(n, lambda m=m: m)
        for n, m in (("adapter", adapter), ("broken", broken), ("offering", offering))
    )
    manager = PluginManager()
    manager.load()
    infos = {p["name"]: p for p in manager.listing()}
    assert infos["adapter"]["status"] != "failed" and infos["offering"]["status"] != "failed"
    assert infos["broken"]["status"] == "failed" and "country" in infos["broken"]["error"]
    assert sorted(manager.hook.crm_shop_adapters(region="cn")) == [["own-cn"], ["youzan-cn"]]
