"""Plugins reach the core's data through its models and functions, never its tables by name: a
core table renamed or split must not silently break a plugin (or bypass its row scopes)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from crm_core.plugins import PluginManager

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(
    path for base in ("plugins", "examples") for path in (ROOT / base).glob("*/crm_*") if path.is_dir()
)
# a table named in SQL text: FROM customer, JOIN "customer", INSERT INTO customer, UPDATE customer
# (upper-case keywords, as the SQL here is written, so prose "from customer ..." does not count)
SQL_TABLE = re.compile(r'\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+"?(\w+)"?')


def core_tables() -> set[str]:
    """The tables of the core's own models (``crm_models`` of the ``core.*`` plugins)."""
    manager = PluginManager()
    manager.load()
    return {
        model._meta.table_name
        for name, models in manager.calls("crm_models")
        if name.startswith("core.")
        for model in models
    }


def tables_named(source: str) -> set[str]:
    """Table names given as string literals to ``Table(...)`` / ``table_exists(...)`` or written
    in SQL strings."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in ("Table", "table_exists") and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.update(SQL_TABLE.findall(node.value))
    return names


def test_the_scan_finds_a_core_table_read_by_name():
    source = 'import peewee as pw\nt = pw.Table("customer", ("id",))\nq = "SELECT 1 FROM deal"\n'
    assert {"customer", "deal"} <= tables_named(source) and "customer" in core_tables()


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_a_plugin_names_no_core_table(package):
    core = core_tables()
    found = {}
    for path in package.rglob("*.py"):
        if "migrations" in path.parts:  # frozen schema history may name the tables it references
            continue
        named = tables_named(path.read_text(encoding="utf-8")) & core
        if named:
            found[str(path.relative_to(ROOT))] = sorted(named)
    assert not found, f"core tables read by name (use the core's models or functions): {found}"
