"""Every hook is documented, and the documentation is the one generated from the hookspecs."""

import inspect
import re
import runpy
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
