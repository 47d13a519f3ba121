"""The e-commerce plugin's hook implementations (registered through the ``crm_core`` entry point)."""

from __future__ import annotations

from pathlib import Path

from crm_core import hookimpl

from . import inbox, jobs, portraits, privacy, recall
from .coupon_models import MODELS as COUPON_MODELS
from .flash_models import MODELS as FLASH_MODELS
from .models import MODELS
from .portrait_models import MODELS as PORTRAIT_MODELS
from .recall_models import MODELS as RECALL_MODELS
from .settings import SETTINGS
from .shipment_models import MODELS as SHIPMENT_MODELS

# the tables this plugin's views and handlers rely on: grants, the write path, the outbox, tasks,
# customers (identity mapping creates them) and segments (coupons issued to a segment)
requires = ("core.auth", "core.permissions", "core.records", "core.events", "core.entities", "core.jobs")

SEGMENT_TASK = "ecommerce.coupons.issue_segment"


@hookimpl
def crm_models():
    """The ecommerce_* tables."""
    return MODELS + COUPON_MODELS + SHIPMENT_MODELS + RECALL_MODELS + FLASH_MODELS + PORTRAIT_MODELS


@hookimpl
def crm_migrations():
    """The plugin's own migration history (``crm_migrations_ecommerce``)."""
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_startup(app):
    """Register the segment-issue task kind."""
    # lazy, as this module's other imports of the facade: the entry point loads before any app
    from crm_core.plugin_api import register_task_kind

    register_task_kind(SEGMENT_TASK, "crm_ecommerce.coupon_api:issue_segment_task")


@hookimpl
def crm_blueprints():
    """The API under /api/v1/ecommerce (shops, orders, webhooks, coupons)."""
    # their routes are added to the same blueprint
    from . import coupon_api, flash_api, portrait_api, recall_api  # noqa: F401
    from .api import blp

    return [blp]


@hookimpl
def crm_web_blueprints():
    """The workbench pieces (the customer 360 panel's template)."""
    from .web import blp

    return [blp]


@hookimpl
def crm_nav():
    """The orders panel on the customer 360 page."""
    from .web import NAV

    return NAV


@hookimpl
def crm_permissions():
    """Resources and actions roles can be granted (labels in the user's language)."""
    from flask_babel import lazy_gettext as _l

    return [
        {
            "resource": "ecommerce.shops",
            "actions": ["read", "create", "update", "delete", "end_rotation"],
            "label": _l("Shops"),
        },
        {"resource": "ecommerce.orders", "actions": ["read", "create", "export"], "label": _l("Orders")},
        {
            "resource": "ecommerce.coupons",
            "actions": ["read", "create", "update", "delete", "issue", "redeem"],
            "label": _l("Coupons"),
        },
        {"resource": "ecommerce.shipments", "actions": ["read"], "label": _l("Parcels")},
        {
            "resource": "ecommerce.recall",
            "actions": ["read", "create", "update", "delete"],
            "label": _l("Recall flows"),
        },
        {
            "resource": "ecommerce.flash_sales",
            "actions": ["read", "create", "update", "delete", "reserve"],
            "label": _l("Flash sales"),
        },
        {
            "resource": "ecommerce.tag_rules",
            "actions": ["read", "create", "update", "delete"],
            "label": _l("Tag rules"),
        },
        {
            "resource": "ecommerce.identities",
            "actions": ["read", "update"],
            "label": _l("Shop customer matching"),
        },
    ]


@hookimpl
def crm_settings():
    """The plugin's settings (:data:`crm_ecommerce.settings.SETTINGS`)."""
    return SETTINGS


@hookimpl
def crm_event(event):
    """Trigger events (``cart.updated``, ``checkout.started``, ``page.dwell``) open recall runs;
    order events, ``tier.changed`` and touchpoints mark the customer's portrait for rebuilding."""
    recall.start(event)
    portraits.on_event(event)


@hookimpl
def crm_jobs():
    """The webhook inbox (every 5 s) and the reconciliation of recent orders (every 15 min)."""
    return jobs.JOBS


@hookimpl
def crm_retention_policies():
    """Processed webhook deliveries are purged after ``ECOMMERCE_INBOX_RETENTION_DAYS``."""
    return inbox.retention_policies()


@hookimpl
def crm_actions():
    """``ecommerce.issue_coupon``: automation rules issue coupons."""
    from .actions import ACTIONS

    return ACTIONS


@hookimpl
def crm_sealed_values():
    """The shops' secrets and the inbox's bodies, for key rotation."""
    from .sealing import SEALED

    return SEALED


@hookimpl
def crm_export_customer(customer):
    """The customer's orders, identities, coupons and recall runs (privacy export)."""
    return privacy.export_customer(customer)


@hookimpl
def crm_erase_customer(customer):
    """Unlink the customer from orders; delete identities, their coupons and recall runs."""
    privacy.erase_customer(customer)


@hookimpl
def crm_translations():
    """The plugin's own catalogue (its messages and labels in Chinese)."""
    return [str(Path(__file__).parent / "translations")]


@hookimpl
def crm_ecommerce_adapters():
    """This plugin's own adapters are built in (:data:`crm_ecommerce.adapters.BUILTIN`); the hook
    is implemented here so that the spec's checks run on this plugin too."""
    return []
