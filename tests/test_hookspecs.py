"""Every hook is documented and typed, and the documentation is the one generated from the hookspecs."""

import inspect
import re
import runpy
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


def _implementations():
    """Hook names implemented somewhere in the shipped code (core capabilities, plugins, example)."""
    found = set()
    for base in ["crm_core", "plugins", "examples"]:
        for path in (ROOT / base).rglob("*.py"):
            if "/tests/" in str(path) or "/migrations/" in str(path) or path.name == "hookspecs.py":
                continue
            found.update(re.findall(r"^\s*def (crm_\w+)\(", path.read_text(encoding="utf-8"), re.M))
    return found


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_implemented_somewhere(name):
    assert name in _implementations(), f"no plugin, core capability or example implements {name}"


def _annotation_namespace():
    import click
    import flask
    import flask_smorest
    import peewee

    from crm_core import types
    from crm_core.entities.models import Customer

    return {
        **vars(hookspecs),
        **{name: getattr(types, name) for name in types.__all__},
        "click": click,
        "flask": flask,
        "flask_smorest": flask_smorest,
        "peewee": peewee,
        "Customer": Customer,
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
