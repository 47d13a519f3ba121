"""Imports every page module so their views attach to the ``web`` blueprint."""

from __future__ import annotations

from . import (  # noqa: F401  (views register on import)  # noqa: F401  (the segment and automation builders)  # noqa: F401  (company page, reminders, global search)
    account,
    admin,
    admin_departments,
    admin_fields,
    admin_messaging,
    admin_roles,
    admin_system,
    admin_users,
    automation,
    automation_editor,
    companies,
    conversations,
    dashboard,
    oauth_apps,
    oauth_consent,
    privacy,
    records,
    reminders,
    search,
    segments_editor,
    transfer,
    work,
)
from .blueprint import bp

__all__ = ["bp"]
