"""The core's customers as the loyalty programme sees them.

A member refers to a customer (``loyalty_member.customer_id``, a real foreign key since migration
0003). Whoever enrols a customer must be able to read that customer: the check goes through the
core's public permission function (``crm_core.plugin_api.readable_reference``), so a customer outside the
actor's row scope and a customer that does not exist answer alike (no id is revealed).

The model is the facade's ``Customer`` (``crm_core.plugin_api``), read at call time.
"""

from __future__ import annotations

from crm_core.plugin_api import readable_reference


def customer_model():
    """The core's customer model."""
    from crm_core.plugin_api import Customer

    return Customer


def require_readable(customer_id, actor, field: str = "customer_id"):
    """The customer ``customer_id`` when ``actor`` may read it; else 422 naming ``field``
    (``crm_core.plugin_api.readable_reference``)."""
    return readable_reference(customer_model(), customer_id, actor, "customers", field)
