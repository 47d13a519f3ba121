"""crm-ecommerce: shops, orders synced exactly once, coupons that are never used twice.

Orders arrive by signed webhooks (Shopify, WooCommerce, a generic HMAC), by pull sync through
``crm_ecommerce_adapters`` and by reconciliation; each is applied once and only when newer. The
plugin emits ``order.created/paid/shipped/delivered/refunded/cancelled`` (docs/events.md), which
loyalty and channel tracking consume without either importing the other.
"""

# the hooks this plugin offers others (crm_ecommerce_adapters): the core adds a plugin's
# ``hookspecs`` before any plugin registers
from . import hookspecs  # noqa: F401
from .hooks import (  # noqa: F401  pluggy collects the hook implementations from this module
    crm_actions,
    crm_blueprints,
    crm_ecommerce_adapters,
    crm_erase_customer,
    crm_event,
    crm_export_customer,
    crm_jobs,
    crm_migrations,
    crm_models,
    crm_nav,
    crm_permissions,
    crm_retention_policies,
    crm_sealed_values,
    crm_settings,
    crm_startup,
    crm_translations,
    crm_web_blueprints,
    requires,
)

__version__ = "0.1.0"
