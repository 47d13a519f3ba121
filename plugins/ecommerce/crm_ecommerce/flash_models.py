"""Flash sales (秒杀/限时抢购) and the reservations that hold their stock.

A reservation holds ``quantity`` of a sale's stock until ``expires_at``; it is counted as taken
while ``status = 'held' AND expires_at > now`` or ``status = 'confirmed'``. The job
``ecommerce:flash_expire`` marks old holds ``expired`` for the record, but availability never
waits for it: a hold stops counting the moment its time is up.
"""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import BaseModel, RecordModel

from .models import MONEY, Shop

RESERVATION_STATES = ("held", "confirmed", "released", "expired")


class FlashSale(RecordModel):
    """``stock`` units of one SKU at ``price`` between ``starts_at`` and ``ends_at``; each
    reservation holds its units for ``hold_minutes`` (None: ``ECOMMERCE_HOLD_MINUTES``)."""

    crm_entity = "ecommerce.flash_sales"

    name = pw.CharField(max_length=200)
    shop = pw.ForeignKeyField(Shop, null=True, on_delete="SET NULL", column_name="shop_id")
    sku = pw.CharField(max_length=100, index=True)
    price = pw.DecimalField(**MONEY)
    currency = pw.CharField(max_length=3, default="CNY")
    stock = pw.IntegerField()
    per_customer_limit = pw.IntegerField(default=1)  # 0: no limit
    hold_minutes = pw.IntegerField(null=True)
    starts_at = pw.DateTimeField()
    ends_at = pw.DateTimeField()
    active = pw.BooleanField(default=True)

    class Meta:
        table_name = "ecommerce_flash_sale"


class FlashReservation(BaseModel):
    """Units of a sale held for a customer; confirmed by the order's payment, released by its
    cancellation (or by hand), expired when its hold runs out. ``key`` makes a retried reserve
    answer the first reservation."""

    sale = pw.ForeignKeyField(FlashSale, on_delete="CASCADE", column_name="sale_id", backref="reservations")
    customer_id = pw.IntegerField(index=True)
    quantity = pw.IntegerField(default=1)
    status = pw.CharField(max_length=10, default="held")
    expires_at = pw.DateTimeField()
    order_id = pw.IntegerField(null=True, index=True)
    key = pw.CharField(max_length=100, null=True)
    finished_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "ecommerce_flash_reservation"
        indexes = ((("sale", "status", "expires_at"), False), (("sale", "key"), True))


MODELS = [FlashSale, FlashReservation]
