"""The built-in roles get the e-commerce grants their work needs:

- ``manager``: shops, orders and coupons of their department tree (shops and coupon templates to
  set up, codes to issue and redeem), and the customer-matching queue;
- ``sales``: orders and coupons of their department to read, coupons to issue and redeem for
  the orders they may read;
- ``service``: orders of their department to read, coupons to redeem (a customer on the phone);
- ``readonly``: everything to read.

Shop secrets are never readable by anyone (the API never returns them). Only roles still marked
built-in are touched, and only grants they do not have yet.
"""

from crm_core.plugin_api import seed_builtin_grants

GRANTS = {
    "manager": [
        *[("ecommerce.shops", a, "department_tree") for a in ("read", "create", "update", "end_rotation")],
        *[("ecommerce.orders", a, "department_tree") for a in ("read", "create", "export")],
        *[
            ("ecommerce.coupons", a, "department_tree")
            for a in ("read", "create", "update", "issue", "redeem")
        ],
        ("ecommerce.identities", "read", "all"),
        ("ecommerce.identities", "update", "all"),
    ],
    "sales": [
        ("ecommerce.shops", "read", "department"),
        ("ecommerce.orders", "read", "department"),
        ("ecommerce.coupons", "read", "department"),
        ("ecommerce.coupons", "issue", "department"),
        ("ecommerce.coupons", "redeem", "department"),
    ],
    "service": [
        ("ecommerce.shops", "read", "department"),
        ("ecommerce.orders", "read", "department"),
        ("ecommerce.coupons", "read", "department"),
        ("ecommerce.coupons", "redeem", "department"),
    ],
    "readonly": [
        (r, "read", "all")
        for r in ("ecommerce.shops", "ecommerce.orders", "ecommerce.coupons", "ecommerce.identities")
    ],
}


def up(migrator, db):
    seed_builtin_grants(db, GRANTS)
