"""``crm fields ...`` and ``crm templates ...``: the metadata engine from the command line."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from ..errors import APIError
from .definitions import create_field, delete_field, update_field
from .extensible import require_entity
from .fielddefs import FIELD_TYPES, custom_fields
from .templates import apply_all, listing


def _fail(exc: APIError):
    details = "; ".join(
        f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in exc.data["errors"].items()
    )
    return click.ClickException(f"{exc.message} {details}".strip())


def _options(kwargs: dict) -> dict:
    """Definition keys from CLI options (only those given)."""
    data = {}
    if kwargs.get("type"):
        data["type"] = kwargs["type"]
    labels = {}
    if kwargs.get("label_en") is not None:
        labels["en"] = kwargs["label_en"]
    if kwargs.get("label_zh") is not None:
        labels["zh-CN"] = kwargs["label_zh"]
    if labels:
        data["label"] = labels
    if kwargs.get("help") is not None:
        data["help"] = kwargs["help"]
    for flag in ("required", "unique", "filterable", "encrypted", "blind_index"):
        if kwargs.get(flag) is not None:
            data[flag] = kwargs[flag]
    if kwargs.get("default") is not None:
        try:
            data["default"] = json.loads(kwargs["default"])
        except json.JSONDecodeError:
            data["default"] = kwargs["default"]
    for key in ("min", "max", "min_length", "max_length", "regex", "reference", "position"):
        if kwargs.get(key) is not None:
            data[key] = kwargs[key]
    if kwargs.get("choices"):
        data["choices"] = list(kwargs["choices"])
    return data


def _definition_options(func):
    options = [
        click.option("--label-en", default=None, help="English label."),
        click.option("--label-zh", default=None, help="Chinese (zh-CN) label."),
        click.option("--help-text", "help", default=None, help="Help text (both languages)."),
        click.option("--required/--optional", default=None),
        click.option("--unique/--not-unique", default=None),
        click.option("--filterable/--not-filterable", default=None, help="Index it for filters and sorts."),
        click.option("--encrypted/--not-encrypted", default=None, help="Store its values encrypted."),
        click.option(
            "--blind-index/--no-blind-index", default=None, help="Find an encrypted field by exact value."
        ),
        click.option("--default", default=None, help="Default value (JSON, or plain text)."),
        click.option("--min", default=None, help="Smallest number allowed."),
        click.option("--max", default=None, help="Largest number allowed."),
        click.option("--min-length", type=int, default=None),
        click.option("--max-length", type=int, default=None),
        click.option("--regex", default=None, help="Pattern the whole value must match."),
        click.option("--choice", "choices", multiple=True, help="A choice value (repeatable)."),
        click.option("--reference", default=None, help="Entity a reference field points to."),
        click.option("--position", type=int, default=None),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def register(group: click.Group) -> None:
    """Add ``fields`` and ``templates`` to the ``crm`` command line (``crm migrate`` applies templates
    through the ``crm_after_migrate`` hook)."""

    @group.group("fields")
    def fields_group():
        """Custom field definitions of customers, companies, custom objects..."""

    @fields_group.command("list")
    @click.argument("entity")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @with_appcontext
    def list_command(entity, as_json):
        """List the custom fields of ENTITY (customers, objects.course...)."""
        try:
            require_entity(entity)
        except APIError as exc:
            raise _fail(exc) from None
        defs = custom_fields(entity)
        if as_json:
            click.echo(json.dumps([fd.as_dict() for fd in defs], ensure_ascii=False, indent=2))
            return
        for fd in defs:
            flags = [
                f for f in ("required", "unique", "filterable", "encrypted", "blind_index") if getattr(fd, f)
            ]
            label = fd.label.get("en") or fd.label.get("zh-CN") or ""
            click.echo(f"{fd.name:<24} {fd.type:<12} {label:<24} {' '.join(flags)}")

    @fields_group.command("add")
    @click.argument("entity")
    @click.argument("name")
    @click.option("--type", "type", required=True, type=click.Choice(FIELD_TYPES))
    @_definition_options
    @with_appcontext
    def add_command(entity, name, **kwargs):
        """Define custom field NAME on ENTITY."""
        try:
            fd = create_field(entity, {"name": name, **_options(kwargs)})
        except APIError as exc:
            raise _fail(exc) from None
        click.echo(f"created {entity}.{fd.name} ({fd.type})")

    @fields_group.command("update")
    @click.argument("entity")
    @click.argument("name")
    @click.option("--type", "type", default=None, type=click.Choice(FIELD_TYPES))
    @_definition_options
    @with_appcontext
    def update_command(entity, name, **kwargs):
        """Change custom field NAME of ENTITY (refused if stored values would break)."""
        try:
            fd = update_field(entity, name, _options(kwargs))
        except APIError as exc:
            raise _fail(exc) from None
        click.echo(f"updated {entity}.{fd.name} ({fd.type})")

    @fields_group.command("delete")
    @click.argument("entity")
    @click.argument("name")
    @click.option("--purge", is_flag=True, help="Also remove the stored values (cannot be undone).")
    @with_appcontext
    def delete_command(entity, name, purge):
        """Delete custom field NAME of ENTITY; values stay stored unless --purge."""
        try:
            delete_field(entity, name, purge=purge)
        except APIError as exc:
            raise _fail(exc) from None
        click.echo(f"deleted {entity}.{name}" + (" and purged its values" if purge else " (values kept)"))

    @group.group("templates", invoke_without_command=True)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_context
    @with_appcontext
    def templates_group(ctx, as_json):
        """Industry templates from plugins: list them (no sub-command) or apply them."""
        if ctx.invoked_subcommand is not None:
            return
        rows = listing()
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not rows:
            click.echo("no templates offered by the installed plugins")
        for row in rows:
            state = f"applied {row['applied_version']}" if row["applied_version"] else "not applied"
            click.echo(f"{row['name']:<24} {row['version']:<8} {row['plugin']:<20} {state}")

    @templates_group.command("apply")
    @click.argument("names", nargs=-1)
    @with_appcontext
    def apply_command(names):
        """Apply templates (all, or those NAMED); applying a version twice changes nothing."""
        try:
            reports = apply_all(list(names))
        except APIError as exc:
            raise _fail(exc) from None
        for report in reports:
            what = ", ".join(report["created"] + report["updated"]) or "nothing to change"
            click.echo(f"{report['template']} {report['version']}: {report['status']} ({what})")
