"""Parcels and their tracking checkpoints (stuck-shipment alerts)."""

import datetime

import peewee as pw


def up(migrator, db):
    class BaseModel(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            legacy_table_names = False

    class RecordModel(BaseModel):
        owner_id = pw.IntegerField(null=True, index=True)
        department_id = pw.IntegerField(null=True, index=True)
        custom = pw.JSONField(default=dict)

    class Order(BaseModel):
        class Meta:
            table_name = "ecommerce_order"

    class Shipment(RecordModel):
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
        shipment = pw.ForeignKeyField(Shipment, on_delete="CASCADE", column_name="shipment_id")
        status = pw.CharField(max_length=30)
        substatus = pw.CharField(max_length=60, default="")
        checkpoint_time = pw.DateTimeField()
        message = pw.CharField(max_length=500, default="")
        location = pw.CharField(max_length=200, default="")

        class Meta:
            table_name = "ecommerce_checkpoint"
            indexes = ((("shipment", "checkpoint_time", "status"), True),)

    db.create_tables([Shipment, Checkpoint])
