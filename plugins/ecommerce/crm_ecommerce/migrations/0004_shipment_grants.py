"""The built-in roles read parcels where they read orders (manager: department tree; sales and
service: their department; readonly: all). Only roles still marked built-in, only new grants."""

from crm_core.plugin_api import seed_builtin_grants

GRANTS = {
    "manager": [("ecommerce.shipments", "read", "department_tree")],
    "sales": [("ecommerce.shipments", "read", "department")],
    "service": [("ecommerce.shipments", "read", "department")],
    "readonly": [("ecommerce.shipments", "read", "all")],
}


def up(migrator, db):
    seed_builtin_grants(db, GRANTS)
