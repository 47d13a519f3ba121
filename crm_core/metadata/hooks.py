"""The metadata capability as a plugin: its tables and migrations (API, CLI and templates are
added by the modules they live in)."""

from __future__ import annotations

from pathlib import Path

from .. import hookimpl
from .models import MODELS

requires = ("core.auth",)


@hookimpl
def crm_models():
    return MODELS


@hookimpl
def crm_migrations():
    return str(Path(__file__).parent / "migrations")
