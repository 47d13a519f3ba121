"""Plugins declare their own settings (``crm_settings``): read from the core's sources with the core's
checks, namespaced by the plugin, ignored while the plugin is disabled."""

from __future__ import annotations

import json
import os
import types

import pytest

from crm_core import hookimpl
from crm_core.app import create_app
from crm_core.config import SETTINGS, ConfigError, Setting


def settings_plugin(name: str, declared: dict[str, Setting]) -> types.ModuleType:
    """A plugin module whose only hook is ``crm_settings`` returning ``declared``."""
    module = types.ModuleType(name)

    @hookimpl
    def crm_settings():
        return declared

    module.crm_settings = crm_settings
    return module


WARRANTY = settings_plugin(
    "warranty",
    {
        "WARRANTY_CLAIM_DAYS": Setting(int, 30, "days after purchase a claim is accepted"),
        "WARRANTY_AUTO_APPROVE": Setting(bool, False, "approve claims without review"),
    },
)


@pytest.fixture
def build(tmp_path, monkeypatch):
    """``build(config=None, *plugins) -> app``: ``create_app`` in a fresh instance folder, with no
    ``CRM_*`` variable from the surrounding environment but those the test sets."""
    for key in [k for k in os.environ if k.startswith("CRM_") and not k.startswith("CRM_TEST_")]:
        monkeypatch.delenv(key)
    instance = tmp_path / "instance"
    instance.mkdir()

    def make(config=None, *plugins):
        base = {"TESTING": True, "INSTANCE_PATH": str(instance), "SECRET_KEY": "test-secret-key"}
        return create_app({**base, **(config or {})}, plugins=list(plugins))

    make.instance = instance
    return make


def test_a_declared_setting_has_its_default(build):
    app = build(None, ("warranty", WARRANTY))
    assert app.config["WARRANTY_CLAIM_DAYS"] == 30
    assert app.config["WARRANTY_AUTO_APPROVE"] is False


def test_sources_override_each_other_in_the_core_order(build, monkeypatch):
    (build.instance / "crm.toml").write_text("warranty_claim_days = 60\nwarranty_auto_approve = true\n")
    assert build(None, ("warranty", WARRANTY)).config["WARRANTY_CLAIM_DAYS"] == 60

    monkeypatch.setenv("CRM_WARRANTY_CLAIM_DAYS", "90")
    app = build(None, ("warranty", WARRANTY))
    assert app.config["WARRANTY_CLAIM_DAYS"] == 90  # environment over crm.toml, read as int
    assert app.config["WARRANTY_AUTO_APPROVE"] is True

    assert build({"WARRANTY_CLAIM_DAYS": "120"}, ("warranty", WARRANTY)).config["WARRANTY_CLAIM_DAYS"] == 120


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("CRM_WARRANTY_CLAIM_DAYS", "a month", "WARRANTY_CLAIM_DAYS: expected a whole number"),
        ("CRM_WARRANTY_AUTO_APPROVE", "maybe", "WARRANTY_AUTO_APPROVE: expected true/false"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_key(build, monkeypatch, key, value, message):
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        build(None, ("warranty", WARRANTY))


def test_a_value_of_the_wrong_type_in_crm_toml_is_refused(build):
    (build.instance / "crm.toml").write_text('warranty_claim_days = "soon"\n')
    with pytest.raises(ConfigError, match="WARRANTY_CLAIM_DAYS"):
        build(None, ("warranty", WARRANTY))


def test_an_unknown_key_is_still_refused(build, monkeypatch):
    monkeypatch.setenv("CRM_WARRANTY_CLAIM_DAY", "30")  # a typo of a declared key
    with pytest.raises(ConfigError, match="CRM_WARRANTY_CLAIM_DAY\\b"):
        build(None, ("warranty", WARRANTY))
    monkeypatch.delenv("CRM_WARRANTY_CLAIM_DAY")
    (build.instance / "crm.toml").write_text("warranty_colour = 1\n")
    with pytest.raises(ConfigError, match="WARRANTY_COLOUR"):
        build(None, ("warranty", WARRANTY))


def test_a_plugin_that_is_not_installed_has_no_settings(build, monkeypatch):
    monkeypatch.setenv("CRM_WARRANTY_CLAIM_DAYS", "30")
    with pytest.raises(ConfigError, match="unknown environment variable.*CRM_WARRANTY_CLAIM_DAYS"):
        build()


def test_two_plugins_declaring_one_key_stop_the_app_naming_both(build):
    shop = settings_plugin("shop", {"SHOP_LINK_TTL": Setting(int, 60, "link lifetime")})
    shop_link = settings_plugin("shop_link", {"SHOP_LINK_TTL": Setting(int, 90, "link lifetime")})
    with pytest.raises(
        ConfigError, match="SHOP_LINK_TTL: declared by both plugin 'shop' and plugin 'shop_link'"
    ):
        build(None, ("shop", shop), ("shop_link", shop_link))


@pytest.mark.parametrize(
    "declared, message",
    [
        (
            {"CLAIM_DAYS": Setting(int, 30, "no prefix")},
            "'CLAIM_DAYS' must be upper case and start with WARRANTY_",
        ),
        ({"warranty_claim_days": Setting(int, 30, "lower")}, "must be upper case and start with WARRANTY_"),
        ({"WARRANTY_": Setting(int, 30, "prefix alone")}, "'WARRANTY_' must be upper case"),
        ({"WARRANTY_DAYS": 30}, "WARRANTY_DAYS must be a crm_core.config.Setting"),
        ({"WARRANTY_DAYS": Setting(float, 1.5, "float")}, "WARRANTY_DAYS: type must be str, int or bool"),
        ({"WARRANTY_DAYS": Setting(int, "30", "default")}, "WARRANTY_DAYS: type must be str, int or bool"),
    ],
)
def test_a_malformed_declaration_stops_the_app_naming_plugin_and_key(build, declared, message):
    with pytest.raises(ConfigError, match=f"plugin 'warranty': .*{message}"):
        build(None, ("warranty", settings_plugin("warranty", declared)))


def test_a_plugin_cannot_redeclare_a_core_setting(build):
    ratelimit = settings_plugin("ratelimit", {"RATELIMIT_DEFAULT": Setting(str, "1/minute", "mine")})
    with pytest.raises(ConfigError, match="plugin 'ratelimit': RATELIMIT_DEFAULT is a core setting"):
        build(None, ("ratelimit", ratelimit))


def test_a_disabled_plugins_keys_are_ignored_not_refused(build, monkeypatch):
    monkeypatch.setenv("CRM_WARRANTY_CLAIM_DAYS", "not checked while disabled")
    (build.instance / "crm.toml").write_text('warranty_auto_approve = "nor this"\n')
    app = build({"PLUGINS_DISABLED": "warranty"}, ("warranty", WARRANTY))
    assert "WARRANTY_CLAIM_DAYS" not in app.config and "WARRANTY_AUTO_APPROVE" not in app.config
    assert {p["name"]: p["status"] for p in app.extensions["crm"].plugins.listing()}["warranty"] == "disabled"


def test_channel_tracking_declares_its_settings_itself(build, monkeypatch):
    assert not [key for key in SETTINGS if key.startswith("CHANNEL_TRACKING_")]
    monkeypatch.setenv("CRM_CHANNEL_TRACKING_LOOKBACK_DAYS", "45")
    app = build()
    assert app.config["CHANNEL_TRACKING_LOOKBACK_DAYS"] == 45
    assert app.config["CHANNEL_TRACKING_CURRENCY"] == "CNY"
    monkeypatch.setenv("CRM_CHANNEL_TRACKING_LOOKBACK_DAYS", "six weeks")
    with pytest.raises(ConfigError, match="CHANNEL_TRACKING_LOOKBACK_DAYS: expected a whole number"):
        build()
    # disabled (through the environment, as an operator would), its settings no longer matter
    monkeypatch.setenv("CRM_PLUGINS_DISABLED", "channel_tracking")
    assert "CHANNEL_TRACKING_LOOKBACK_DAYS" not in build().config


@pytest.fixture
def crm(build):
    """``crm(ARGS..., env=None)`` through click's runner, in the test's instance folder, with
    ``env`` as the only other ``CRM_*`` variables."""
    from click.testing import CliRunner

    from crm_core.cli import build_cli

    def run(*args, env=None):
        full_env = {"CRM_INSTANCE_PATH": str(build.instance), **(env or {})}
        return CliRunner().invoke(build_cli(), list(args), env=full_env)

    return run


def test_crm_settings_lists_the_core_and_the_plugins_settings(crm):
    rows = {row["variable"]: row for row in json.loads(crm("settings", "--json").output)}
    assert rows["CRM_DATABASE_URL"]["declared_by"] == "core"
    assert rows["CRM_CHANNEL_TRACKING_LOOKBACK_DAYS"] == {
        "key": "CHANNEL_TRACKING_LOOKBACK_DAYS",
        "variable": "CRM_CHANNEL_TRACKING_LOOKBACK_DAYS",
        "type": "int",
        "default": 30,
        "help": "attribution lookback window in days",
        "declared_by": "channel_tracking",
    }
    text = crm("settings").output
    assert "CRM_CHANNEL_TRACKING_CURRENCY" in text and "(channel_tracking)" in text

    disabled = crm("settings", env={"CRM_PLUGINS_DISABLED": "channel_tracking"}).output
    assert "CRM_DATABASE_URL" in disabled and "CHANNEL_TRACKING" not in disabled


def test_crm_serve_checks_the_plugins_settings_too(crm):
    # memory:// limits with two workers are refused; a plugin's setting must not be refused first
    result = crm("serve", "--workers", "2", env={"CRM_CHANNEL_TRACKING_RATE_LIMIT": "5/minute"})
    assert result.exit_code != 0 and "refusing to start" in result.output, result.output
    result = crm("serve", "--workers", "2", env={"CRM_CHANNEL_TRACKING_RATE_LIMIT": "5/minute", "CRM_X": "1"})
    assert "unknown environment variable(s): CRM_X" in result.output, result.output


def test_a_failed_plugins_keys_are_ignored_too(build, monkeypatch):
    broken = types.ModuleType("warranty")

    @hookimpl
    def crm_settings(no_such_argument):  # pluggy rejects it: the plugin is reported failed
        return {}

    broken.crm_settings = crm_settings
    monkeypatch.setenv("CRM_WARRANTY_CLAIM_DAYS", "30")
    app = build(None, ("warranty", broken))
    assert "WARRANTY_CLAIM_DAYS" not in app.config
    assert {p["name"]: p["status"] for p in app.extensions["crm"].plugins.listing()}["warranty"] == "failed"
