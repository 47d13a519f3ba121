"""The plugin facade (``crm_core.plugin_api``): the plugins and the example in this repository
import nothing else from the core, and every name it offers is real, documented and the core's own."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import crm_core
from crm_core import plugin_api

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_TREES = [ROOT / "plugins", ROOT / "examples"]
FACADE = "crm_core.plugin_api"
# what a plugin's tests may import besides the facade: the pytest fixtures and the page helpers
TEST_MODULES = {"crm_core.testing", "crm_core.browser_testing"}


def _skipped(path: Path) -> bool:
    """Build copies (``build/lib``) and packaging metadata are not sources."""
    return any(part == "build" or part.endswith(".egg-info") or part == "__pycache__" for part in path.parts)


def _is_test_file(path: Path) -> bool:
    return "tests" in path.parts or path.name == "conftest.py" or path.name.startswith("test_")


def _allowed(module: str, names: list[str], in_tests: bool) -> list[str]:
    """The parts of ``from module import names`` (or ``import module``: ``names`` empty) that
    are not public: ``crm_core`` itself (``hookimpl``...), the facade and, in tests, the testing
    modules."""
    modules = {FACADE} | (TEST_MODULES if in_tests else set())
    if module == "crm_core":
        if not names:
            return []
        root = set(crm_core.__all__) | {m.rsplit(".", 1)[1] for m in modules}
        return [f"crm_core.{name}" for name in names if name not in root]
    if module in modules:
        return []
    return [module + (f" ({', '.join(names)})" if names else "")]


def private_imports(source: str, in_tests: bool) -> list[tuple[int, str]]:
    """``(line, what)`` for every import from ``crm_core`` other than the public ones, anywhere in
    ``source`` (module level, inside functions, under ``if TYPE_CHECKING``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "crm_core" or node.module.startswith("crm_core."):
                names = [alias.name for alias in node.names]
                found += [(node.lineno, what) for what in _allowed(node.module, names, in_tests)]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("crm_core.") or alias.name == "crm_core":
                    found += [(node.lineno, what) for what in _allowed(alias.name, [], in_tests)]
    return found


def plugin_sources() -> list[Path]:
    return sorted(p for tree in PLUGIN_TREES for p in tree.rglob("*.py") if not _skipped(p))


def test_the_checker_sees_every_kind_of_import():
    source = (
        "from crm_core import hookimpl, plugin_api, permissions\n"
        "from crm_core.plugin_api import can\n"
        "import crm_core.db\n"
        "from . import models\n"
        "def later():\n"
        "    from crm_core.records import service\n"
        "    from crm_core.testing import TEST_PASSWORD\n"
    )
    assert private_imports(source, in_tests=False) == [
        (1, "crm_core.permissions"),
        (3, "crm_core.db"),
        (6, "crm_core.records (service)"),
        (7, "crm_core.testing (TEST_PASSWORD)"),
    ]
    assert private_imports(source, in_tests=True) == [
        (1, "crm_core.permissions"),
        (3, "crm_core.db"),
        (6, "crm_core.records (service)"),
    ]


def test_plugins_and_examples_import_only_the_public_api():
    sources = plugin_sources()
    assert any(p.name == "hooks.py" for p in sources) and any(_is_test_file(p) for p in sources)
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sources
        for line, what in private_imports(path.read_text(encoding="utf-8"), _is_test_file(path))
    ]
    assert offenders == [], "import these through crm_core.plugin_api:\n" + "\n".join(offenders)


def test_build_copies_are_not_scanned(tmp_path):
    assert _skipped(ROOT / "plugins" / "loyalty" / "build" / "lib" / "crm_loyalty" / "api.py")
    assert _skipped(ROOT / "plugins" / "loyalty" / "crm_loyalty.egg-info" / "x.py")
    assert not _skipped(ROOT / "plugins" / "loyalty" / "crm_loyalty" / "api.py")


@pytest.mark.parametrize("name", plugin_api.__all__)
def test_every_public_name_resolves_and_is_documented(name):
    obj = getattr(plugin_api, name)
    listed = plugin_api.__doc__
    assert f"``{name}``" in listed, f"{name} is not in the facade's module docstring"
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj):
        assert inspect.getdoc(obj), f"{name} has no docstring"
        # a re-export, never a copy: the object is defined in the core (or its libraries)
        assert obj.__module__ != plugin_api.__name__, f"{name} is defined in the facade"
    else:  # a constant or a documented instance (the database proxy)
        assert isinstance(obj, str) or inspect.getdoc(type(obj)), name


def test_all_lists_each_name_once_and_nothing_missing():
    assert len(plugin_api.__all__) == len(set(plugin_api.__all__))
    imported = {
        name
        for name, value in vars(plugin_api).items()
        if not name.startswith("_") and name != "annotations" and not inspect.ismodule(value)
    }
    assert imported == set(plugin_api.__all__)


def test_the_guide_documents_every_public_name():
    guide = (ROOT / "docs" / "plugin-guide.md").read_text(encoding="utf-8")
    section = guide[guide.index("## The public API") :]
    table = section[: section.index("\n## ", 1)]
    rows = {line.split("|")[1].strip().strip("`") for line in table.splitlines() if line.startswith("| `")}
    assert rows == set(plugin_api.__all__)


def test_importing_the_facade_builds_no_app():
    code = (
        "import sys, crm_core.plugin_api\n"
        "assert 'crm_core.app' not in sys.modules\n"
        # the facade's web names come from crm_core.web.session and crm_core.web.nav; no page module
        "web = {'crm_core.web.session', 'crm_core.web.nav'}\n"
        "assert not any(m.startswith('crm_core.web.') and m not in web for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_guide_documents_what_the_example_imports():
    """The example is what authors copy: every core name it uses is in the guide's table."""
    guide = (ROOT / "docs" / "plugin-guide.md").read_text(encoding="utf-8")
    used = {
        alias.name
        for path in (ROOT / "examples" / "hello_plugin").rglob("*.py")
        if not _skipped(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module == FACADE
        for alias in node.names
    }
    assert {"API_PREFIX", "utcnow", "acting_actor", "login_required", "web_actor"} <= used
    assert [name for name in sorted(used) if f"| `{name}` |" not in guide] == []
