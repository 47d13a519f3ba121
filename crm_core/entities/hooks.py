"""The core objects as a plugin: models, migrations, API blueprints, the ``demo-data`` command and
the core's own demo records."""

from __future__ import annotations

from pathlib import Path

from .. import hookimpl
from .models import MODELS

requires = ("core.auth", "core.records")


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_cli(group):
    from .demo import demo_data_command

    group.add_command(demo_data_command)


@hookimpl(tryfirst=True)
def crm_demo_data(context):
    """The core's demo records (companies, deals, tickets, activities), before any plugin's: the
    plugins' demo data may refer to them."""
    from .demo import seed_records

    seed_records(context)
