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
