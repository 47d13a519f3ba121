"""``crm roles ...``: roles, grants and field rules from the command line (audited like the API)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..auth import ADMIN_ROLE, record_change
from ..auth.models import Role
from ..db import database
from . import FIELD_RULES, SCOPES, validate_grant
from .builtin import BUILTIN_GRANTS, BUILTIN_LABELS
from .models import FieldRule, Grant, role_dict
from .validation import validate_field_rule

roles_group = AppGroup(
    "roles", help="Roles, their grants (resource:action with a row scope) and field rules."
)


def _role(name: str) -> Role:
    role = Role.get_or_none(Role.name == name)
    if role is None:
        raise click.ClickException(f"no role {name!r}")
    return role


def _image(role: Role) -> dict:
    return role_dict(role)


def _fixed(role: Role) -> None:
    if role.name == ADMIN_ROLE:
        raise click.ClickException("the admin role's permissions are fixed")


@roles_group.command("list")
def list_roles():
    """Every role with its grants and field rules."""
    for role in Role.select().order_by(Role.name):
        data = _image(role)
        flag = " (built-in)" if role.builtin else ""
        click.echo(f"{role.name}{flag}: {data['users']} user(s)")
        for g in data["grants"]:
            click.echo(f"  grant {g['resource']}:{g['action']} scope={g['scope']}")
        for r in data["field_rules"]:
            click.echo(f"  field {r['resource']}.{r['field']} {r['rule']}")


@roles_group.command("create")
@click.argument("name")
@click.option("--label", default="", help="Display name.")
def create_role(name, label):
    """Create an empty role."""
    if Role.select().where(Role.name == name).exists():
        raise click.ClickException(f"role {name!r} exists")
    with database.atomic():
        role = Role.create(name=name, label=label or name)
        record_change("create", "roles", role.id, None, _image(role))
    click.echo(f"created role {name}")


@roles_group.command("delete")
@click.argument("name")
def delete_role(name):
    """Delete a custom role (built-in roles stay)."""
    role = _role(name)
    if role.builtin:
        raise click.ClickException("built-in roles cannot be deleted")
    with database.atomic():
        before = _image(role)
        role.delete_instance(recursive=True)
        record_change("delete", "roles", before["id"], before, None)
    click.echo(f"deleted role {name}")


@roles_group.command("grant")
@click.argument("role_name")
@click.argument("resource")
@click.argument("action")
@click.argument("scope", type=click.Choice(SCOPES))
def grant(role_name, resource, action, scope):
    """Let ROLE do RESOURCE:ACTION on rows in SCOPE (replaces an existing grant's scope)."""
    role = _role(role_name)
    _fixed(role)
    problems = validate_grant(resource, action, scope)
    if problems:
        raise click.ClickException(" ".join(problems))
    with database.atomic():
        before = _image(role)
        Grant.delete().where(Grant.role == role, Grant.resource == resource, Grant.action == action).execute()
        Grant.create(role=role, resource=resource, action=action, scope=scope)
        record_change("update", "roles", role.id, before, _image(role))
    click.echo(f"{role_name}: {resource}:{action} scope={scope}")


@roles_group.command("revoke")
@click.argument("role_name")
@click.argument("resource")
@click.argument("action")
def revoke(role_name, resource, action):
    """Take RESOURCE:ACTION away from ROLE."""
    role = _role(role_name)
    _fixed(role)
    with database.atomic():
        before = _image(role)
        n = (
            Grant.delete()
            .where(Grant.role == role, Grant.resource == resource, Grant.action == action)
            .execute()
        )
        if n:
            record_change("update", "roles", role.id, before, _image(role))
    click.echo(f"{role_name}: {resource}:{action} revoked" if n else "no such grant")


@roles_group.command("field-rule")
@click.argument("role_name")
@click.argument("resource")
@click.argument("field")
@click.argument("rule", type=click.Choice([*FIELD_RULES, "read-write"]))
def field_rule(role_name, resource, field, rule):
    """Make FIELD of RESOURCE hidden, masked (shown partly), masked-writable (shown partly,
    may be typed), read-only or read-write (the default) for ROLE."""
    problems = validate_field_rule(resource, field, rule) if rule != "read-write" else []
    if problems:
        raise click.ClickException(" ".join(problems))
    role = _role(role_name)
    _fixed(role)
    with database.atomic():
        before = _image(role)
        FieldRule.delete().where(
            FieldRule.role == role, FieldRule.resource == resource, FieldRule.field == field
        ).execute()
        if rule != "read-write":
            FieldRule.create(role=role, resource=resource, field=field, rule=rule)
        record_change("update", "roles", role.id, before, _image(role))
    click.echo(f"{role_name}: {resource}.{field} {rule}")


@roles_group.command("reset-builtin")
@click.option("--yes", is_flag=True, help="Do not ask.")
def reset_builtin(yes):
    """Restore the built-in roles' default grants (their field rules are kept)."""
    if not yes:
        click.confirm("Replace the grants of every built-in role with the defaults?", abort=True)
    with database.atomic():
        for name, grants in BUILTIN_GRANTS.items():
            role = Role.get_or_none(Role.name == name)
            if role is None:
                role = Role.create(name=name, label=BUILTIN_LABELS[name], builtin=True)
            before = _image(role)
            Grant.delete().where(Grant.role == role).execute()
            for resource, action, scope in grants:
                Grant.create(role=role, resource=resource, action=action, scope=scope)
            after = _image(role)
            if before != after:
                record_change("update", "roles", role.id, before, after)
    click.echo("built-in roles restored")
