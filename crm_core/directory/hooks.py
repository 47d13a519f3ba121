"""People management as a plugin: the ``crm departments`` commands."""

from __future__ import annotations

import click

from .. import hookimpl
from ..auth import record_change
from ..auth.models import Department
from ..db import database
from ..errors import APIError
from .departments import create_department, department_dict

requires = ("core.auth", "core.records")


@hookimpl
def crm_cli(group):
    @group.group("departments")
    def departments_group():
        """The department tree."""

    @departments_group.command("list")
    def list_departments():
        """Every department, indented by depth."""
        for d in Department.select().order_by(Department.path):
            click.echo(f"{'  ' * (d.path.strip('/').count('/'))}{d.name} (id {d.id})")

    @departments_group.command("create")
    @click.argument("name")
    @click.option("--parent", "parent_id", type=int, default=None, help="Parent department id.")
    def create_department_command(name, parent_id):
        """Create a department (below --parent)."""

        try:
            with database.atomic():
                dept = create_department(name, parent_id)
                record_change("create", "departments", dept.id, None, department_dict(dept))
        except APIError as exc:
            raise click.ClickException(f"{exc.message} {exc.data['errors']}") from None
        click.echo(f"created department {dept.name} (id {dept.id}, path {dept.path})")
