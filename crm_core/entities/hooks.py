"""The core objects as a plugin: models, migrations, API blueprints and the ``demo-data`` command."""

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
def crm_blueprints():
    from . import companies, customers, deals, segments, tickets, transfer  # noqa: F401  (routes)

    return [
        customers.blp,
        customers.tags_blp,
        companies.blp,
        companies.contacts_blp,
        deals.pipelines_blp,
        deals.blp,
        tickets.activities_blp,
        tickets.blp,
        segments.blp,
    ]


@hookimpl
def crm_cli(group):
    from .demo import demo_data_command

    group.add_command(demo_data_command)
