"""The metadata capability as a plugin: tables, migrations, the fields and objects API, the
``crm fields`` / ``crm templates`` commands and its permission resources."""

from __future__ import annotations

from pathlib import Path

from flask_babel import lazy_gettext as _l

from .. import hookimpl
from .cli import register
from .models import MODELS
from .sealed import sealed_values
from .templates import apply_all

requires = ("core.auth",)


@hookimpl
def crm_models():
    """Field definitions, object types and records, applied templates, cache version."""
    return MODELS


@hookimpl
def crm_migrations():
    """The metadata tables' migrations (indexes of filterable fields are made at runtime)."""
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_permissions():
    """Who may manage definitions: ``fields:*`` and ``object_types:*`` (records of a type are
    ``objects.<type>``, declared by the permission module)."""
    return [
        {
            "resource": "fields",
            "actions": ["read", "create", "update", "delete"],
            "label": _l("Custom fields"),
        },
        {
            "resource": "object_types",
            "actions": ["read", "create", "update", "delete"],
            "label": _l("Custom object types"),
        },
    ]


@hookimpl
def crm_sealed_values():
    """The encrypted custom fields of every entity, for key rotation."""
    return sealed_values()


@hookimpl
def crm_cli(group):
    """``crm fields ...``, ``crm templates [apply]``; ``crm migrate`` also applies templates."""
    register(group)


@hookimpl
def crm_after_migrate(app):
    """Apply the plugins' industry templates once the schema is in place (idempotent)."""
    for report in apply_all():
        if report["status"] == "applied":
            app.logger.info("template %s %s applied", report["template"], report["version"])
