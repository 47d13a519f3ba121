"""A product warranty of a customer (table prefix ``warranty_``, as every plugin table)."""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import RecordModel

ACTIVE, CLAIMED, EXPIRED = "active", "claimed", "expired"
STATUSES = (ACTIVE, CLAIMED, EXPIRED)


class Warranty(RecordModel):
    """One product's warranty: active until ``expires_at`` (then the daily job expires it) or
    until it is claimed, once."""

    crm_entity = "warranty.warranties"  # admins may add custom fields to warranties

    customer_id = pw.IntegerField(index=True)
    product = pw.CharField(max_length=200)
    serial = pw.CharField(max_length=100, unique=True)
    expires_at = pw.DateTimeField(index=True)
    status = pw.CharField(max_length=10, default=ACTIVE, index=True)
    claimed_at = pw.DateTimeField(null=True)
    claim_reason = pw.CharField(max_length=500, null=True)

    class Meta:
        table_name = "warranty_warranty"
