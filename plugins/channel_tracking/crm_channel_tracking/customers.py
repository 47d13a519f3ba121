"""The core's customers as the channel tracking plugin sees them.

A conversion recorded through the API may name a customer (``customer_id``), which also stitches
a visitor to that customer. Whoever records it must be able to read that customer: the check goes
through the core's public permission function (``crm_core.permissions.get_record``), so a customer
outside the actor's row scope and one that does not exist answer alike (no id is revealed).

The core has no documented public export of its ``Customer`` model yet; it is resolved here, in one
place, from ``crm_core.entities.models`` (the module the core's own capabilities use), at call time.
(Plugins never import each other: the check itself is the core's ``permissions.readable_reference``.)
"""

from __future__ import annotations

from crm_core import permissions


def customer_model():
    """The core's customer model."""
    from crm_core.entities.models import Customer

    return Customer


def require_readable(customer_id, actor, field: str = "customer_id"):
    """The customer ``customer_id`` when ``actor`` may read it; else 422 naming ``field``
    (``crm_core.permissions.readable_reference``)."""
    return permissions.readable_reference(customer_model(), customer_id, actor, "customers", field)
