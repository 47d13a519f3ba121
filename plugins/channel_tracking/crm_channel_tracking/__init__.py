"""crm-channel-tracking: touchpoints, sessions, funnels, multi-touch attribution and channel ROI.

A crm-core plugin (entry point ``channel_tracking`` in the group ``crm_core``). The hook
implementations live in :mod:`crm_channel_tracking.hooks` and are re-exported here because the
entry point names this package.
"""

__version__ = "0.1.0"

from .hooks import (  # noqa: E402  the hooks need __version__ first
    crm_blueprints,
    crm_cli,
    crm_demo_data,
    crm_erase_customer,
    crm_event,
    crm_export_customer,
    crm_migrations,
    crm_models,
    crm_nav,
    crm_permissions,
    crm_retention_policies,
    crm_settings,
    crm_startup,
    crm_translations,
    crm_web_blueprints,
    requires,
)

__all__ = [
    "__version__",
    "crm_blueprints",
    "crm_cli",
    "crm_demo_data",
    "crm_event",
    "crm_erase_customer",
    "crm_export_customer",
    "crm_migrations",
    "crm_models",
    "crm_nav",
    "crm_permissions",
    "crm_retention_policies",
    "crm_settings",
    "crm_startup",
    "crm_translations",
    "crm_web_blueprints",
    "requires",
]
