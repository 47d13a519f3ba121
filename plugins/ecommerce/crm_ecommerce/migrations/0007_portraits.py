"""Customer profiles (RFM) and tag rules; the built-in roles' grants on the rules."""

import datetime

import peewee as pw

from crm_core.plugin_api import seed_builtin_grants

GRANTS = {
    "manager": [("ecommerce.tag_rules", a, "department_tree") for a in ("read", "create", "update")],
    "sales": [("ecommerce.tag_rules", "read", "all")],
    "readonly": [("ecommerce.tag_rules", "read", "all")],
}


def up(migrator, db):
    class BaseModel(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            legacy_table_names = False

    class CustomerProfile(BaseModel):
        customer_id = pw.IntegerField(unique=True)
        orders = pw.IntegerField(default=0)
        spent = pw.DecimalField(max_digits=18, decimal_places=2, default=0)
        avg_order = pw.DecimalField(max_digits=18, decimal_places=2, default=0)
        max_order = pw.DecimalField(max_digits=18, decimal_places=2, default=0)
        last_order_at = pw.DateTimeField(null=True)
        recency_days = pw.IntegerField(null=True)
        r = pw.IntegerField(default=0)
        f = pw.IntegerField(default=0)
        m = pw.IntegerField(default=0)
        loyalty_tier = pw.CharField(max_length=100, null=True)
        channels = pw.JSONField(default=list)
        auto_tags = pw.JSONField(default=list)
        dirty = pw.BooleanField(default=True, index=True)
        computed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "ecommerce_customer_profile"

    class TagRule(BaseModel):
        owner_id = pw.IntegerField(null=True, index=True)
        department_id = pw.IntegerField(null=True, index=True)
        custom = pw.JSONField(default=dict)
        name = pw.CharField(max_length=200)
        tag = pw.CharField(max_length=100)
        conditions = pw.JSONField(default=list)
        active = pw.BooleanField(default=True)

        class Meta:
            table_name = "ecommerce_tag_rule"

    db.create_tables([CustomerProfile, TagRule])
    seed_builtin_grants(db, GRANTS)
