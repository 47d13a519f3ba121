"""Parcels of orders and their tracking checkpoints (AfterShip-like statuses)."""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import BaseModel, RecordModel

from .models import Order

#: AfterShip's main statuses; the last four end a parcel's journey (no stuck alert after them)
TAGS = (
    "Pending",
    "InfoReceived",
    "InTransit",
    "OutForDelivery",
    "AttemptFail",
    "AvailableForPickup",
    "Exception",
    "Delivered",
    "Expired",
)
FINAL = ("Delivered", "Expired")
#: statuses that alert at once (the carrier says something went wrong)
ALARMING = ("AttemptFail", "Exception")


class Shipment(RecordModel):
    """A parcel of an order, unique per (carrier, tracking number); in its order's department.
    ``status`` and ``last_checkpoint_at`` follow the LATEST checkpoint by its own time, never the
    order in which carrier callbacks arrived."""

    crm_entity = "ecommerce.shipments"

    order = pw.ForeignKeyField(Order, on_delete="CASCADE", column_name="order_id")
    carrier = pw.CharField(max_length=60)
    tracking_number = pw.CharField(max_length=100)
    status = pw.CharField(max_length=30, default="Pending", index=True)
    substatus = pw.CharField(max_length=60, default="")
    last_checkpoint_at = pw.DateTimeField(null=True, index=True)
    alerted_at = pw.DateTimeField(null=True)
    alert_reason = pw.CharField(max_length=300, default="")
    ticket_id = pw.IntegerField(null=True)

    class Meta:
        table_name = "ecommerce_shipment"
        indexes = ((("carrier", "tracking_number"), True),)


class Checkpoint(BaseModel):
    """One tracking event of a parcel; a repeated callback is the same row."""

    shipment = pw.ForeignKeyField(
        Shipment, on_delete="CASCADE", column_name="shipment_id", backref="checkpoints"
    )
    status = pw.CharField(max_length=30)
    substatus = pw.CharField(max_length=60, default="")
    checkpoint_time = pw.DateTimeField()
    message = pw.CharField(max_length=500, default="")
    location = pw.CharField(max_length=200, default="")

    class Meta:
        table_name = "ecommerce_checkpoint"
        indexes = ((("shipment", "checkpoint_time", "status"), True),)


MODELS = [Shipment, Checkpoint]
