"""Demo data as a plugin: the ``crm demo-data`` command and the core's own demo records."""

from __future__ import annotations

from .. import hookimpl
from .command import demo_data_command
from .records import seed_records

requires = ("core.entities", "core.auth")


@hookimpl
def crm_cli(group):
    group.add_command(demo_data_command)


@hookimpl(tryfirst=True)
def crm_demo_data(context):
    """The core's demo records (companies, deals, tickets, activities), before any plugin's: the
    plugins' demo data may refer to them."""
    seed_records(context)
