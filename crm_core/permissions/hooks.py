"""The permission capability as a plugin: grants and field-rule tables, built-in roles."""

from __future__ import annotations

from pathlib import Path

from .. import hookimpl
from .cli import roles_group
from .models import MODELS
from .revision import MODELS as REVISION_MODELS

requires = ("core.auth",)


@hookimpl
def crm_models():
    return MODELS + REVISION_MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_cli(group):
    group.add_command(roles_group)
