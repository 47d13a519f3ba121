"""Flash sales and their reservations; the built-in roles' grants on them (managers run sales,
sales staff reserve for their customers)."""

import datetime

import peewee as pw

from crm_core.plugin_api import seed_builtin_grants

GRANTS = {
    "manager": [
        ("ecommerce.flash_sales", a, "department_tree") for a in ("read", "create", "update", "reserve")
    ],
    "sales": [("ecommerce.flash_sales", a, "department") for a in ("read", "reserve")],
    "service": [("ecommerce.flash_sales", a, "department") for a in ("read", "reserve")],
    "readonly": [("ecommerce.flash_sales", "read", "all")],
}


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

    class Shop(BaseModel):
        class Meta:
            table_name = "ecommerce_shop"

    class FlashSale(RecordModel):
        name = pw.CharField(max_length=200)
        shop = pw.ForeignKeyField(Shop, null=True, on_delete="SET NULL", column_name="shop_id")
        sku = pw.CharField(max_length=100, index=True)
        price = pw.DecimalField(max_digits=18, decimal_places=2)
        currency = pw.CharField(max_length=3, default="CNY")
        stock = pw.IntegerField()
        per_customer_limit = pw.IntegerField(default=1)
        hold_minutes = pw.IntegerField(null=True)
        starts_at = pw.DateTimeField()
        ends_at = pw.DateTimeField()
        active = pw.BooleanField(default=True)

        class Meta:
            table_name = "ecommerce_flash_sale"

    class FlashReservation(BaseModel):
        sale = pw.ForeignKeyField(FlashSale, on_delete="CASCADE", column_name="sale_id")
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

    db.create_tables([FlashSale, FlashReservation])
    seed_builtin_grants(db, GRANTS)
