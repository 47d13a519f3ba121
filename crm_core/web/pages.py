"""Imports every page module so their views attach to the ``web`` blueprint."""

from __future__ import annotations

from . import account, admin, automation, dashboard, records, transfer, work  # noqa: F401  (views register on import)
from . import automation_editor, segments_editor  # noqa: F401  (the segment and automation builders)
from . import companies, reminders, search  # noqa: F401  (company page, reminders, global search)
from .blueprint import bp

__all__ = ["bp"]
