"""The e-commerce workbench pieces: the orders panel on the customer 360 page (``crm_nav``).

The template lives in this package (``ecommerce/customer_panel.html``), found through this
blueprint's template folder; the panel's data comes from :func:`crm_ecommerce.customer360.summary`
with the viewer's permissions.
"""

from __future__ import annotations

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from . import labels
from .customer360 import summary

blp = Blueprint("ecommerce_web", __name__, url_prefix="/ecommerce", template_folder="templates")


@blp.app_context_processor
def _ecommerce_context():
    # the status names every e-commerce template shows
    return {
        "ecommerce_status": labels.status,
        "ecommerce_kind": labels.kind,
        "ecommerce_exit": labels.exit_reason,
    }


NAV = [
    {
        "label": _l("E-commerce"),
        "endpoint": "ecommerce_web.index",
        "permission": [
            "ecommerce.orders:read",
            "ecommerce.coupons:read",
            "ecommerce.shipments:read",
            "ecommerce.recall:read",
            "ecommerce.flash_sales:read",
            "ecommerce.tag_rules:read",
        ],
        "order": 55,
    },
    {
        "label": _l("Orders"),
        "kind": "customer_panel",
        "endpoint": None,
        "template": "ecommerce/customer_panel.html",
        "permission": "ecommerce.orders:read",
        "order": 40,
        "template_vars": lambda customer, actor: {"ecommerce": summary(customer.id, actor)},
    },
]

# the screens live in their own module, on this blueprint
from . import web_insights, web_pages  # noqa: E402, F401
