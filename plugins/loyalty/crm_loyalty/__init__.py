"""crm-loyalty: a loyalty programme for crm-core.

Member tiers that rise at once and fall only by scheduled rule, and a points ledger whose balance
is always its sum. Installed on its own next to crm-core, it is fed through its API
(``POST /api/v1/loyalty/activities``) or by ``order.paid`` / ``order.refunded`` events from any
plugin; it never imports another plugin.
"""

from .hooks import (  # noqa: F401  pluggy collects the hook implementations from this module
    crm_blueprints,
    crm_cli,
    crm_demo_data,
    crm_erase_customer,
    crm_event,
    crm_export_customer,
    crm_jobs,
    crm_migrations,
    crm_models,
    crm_nav,
    crm_permissions,
    crm_translations,
    crm_web_blueprints,
    requires,
)

__version__ = "0.1.0"
