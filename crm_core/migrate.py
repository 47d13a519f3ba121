"""Apply the migrations of the core's capabilities and of every plugin, in dependency order.

Each plugin (``core.auth``, ``loyalty``...) keeps its own ``playhouse.migrations`` directory and its
own history table ``crm_migrations_<plugin>``, so plugins can be installed, upgraded and removed
independently. Running it twice applies nothing the second time.
"""

from __future__ import annotations

import re

import peewee as pw
from playhouse.migrations import Runner

from .plugins import PluginManager


def history_table(plugin_name: str) -> str:
    """The history table name of a plugin's migration set."""
    return "crm_migrations_" + re.sub(r"[^a-z0-9]+", "_", plugin_name.lower()).strip("_")


#: Capability packages renamed since a release: new plugin name -> the name its history was kept
#: under. A database migrated before the rename keeps its history (nothing is applied twice).
RENAMED = {"core.custom": "core.metadata"}


def adopt_renamed_histories(db: pw.Database) -> None:
    """Rename the history table of each renamed capability to its new name, once."""
    for new, old in RENAMED.items():
        old_table, new_table = history_table(old), history_table(new)
        if db.table_exists(old_table) and not db.table_exists(new_table):
            db.execute_sql(f'ALTER TABLE "{old_table}" RENAME TO "{new_table}"')


def migration_sets(plugins: PluginManager) -> list[tuple[str, str]]:
    """``[(plugin_name, directory)]`` in dependency order."""
    return plugins.in_dependency_order(plugins.calls("crm_migrations"))


def migrate(db: pw.Database, plugins: PluginManager) -> dict[str, list[str]]:
    """Apply every pending migration, then the ``crm_after_migrate`` steps (templates);
    returns ``{plugin: [applied names]}`` (empty lists when up to date)."""
    from flask import current_app, has_app_context

    adopt_renamed_histories(db)
    applied = {}
    for name, directory in migration_sets(plugins):
        runner = Runner(db, directory=str(directory), table_name=history_table(name))
        applied[name] = runner.up()
    if has_app_context():
        plugins.hook.crm_after_migrate(app=current_app._get_current_object())
    return applied


def status(db: pw.Database, plugins: PluginManager) -> list[dict]:
    """Every known migration with whether it is applied, per plugin."""
    adopt_renamed_histories(db)
    rows = []
    for name, directory in migration_sets(plugins):
        runner = Runner(db, directory=str(directory), table_name=history_table(name))
        for m in runner.status():
            rows.append({"plugin": name, "migration": m.name, "applied": m.applied is not None})
    return rows
