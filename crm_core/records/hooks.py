"""The records capability as a plugin: the idempotency-key table (the list API, write path and
CRUD factory themselves are plain modules others import)."""

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
