"""Recall flows and their runs; the built-in roles' grants on them."""

import datetime

import peewee as pw

from crm_core.plugin_api import seed_builtin_grants

GRANTS = {
    "manager": [("ecommerce.recall", a, "department_tree") for a in ("read", "create", "update")],
    "sales": [("ecommerce.recall", "read", "department")],
    "readonly": [("ecommerce.recall", "read", "all")],
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

    class CouponTemplate(BaseModel):
        class Meta:
            table_name = "ecommerce_coupon_template"

    class RecallFlow(RecordModel):
        name = pw.CharField(max_length=200)
        triggers = pw.JSONField(default=list)
        delay_minutes = pw.IntegerField(default=60)
        cooldown_days = pw.IntegerField(default=7)
        template = pw.ForeignKeyField(
            CouponTemplate, null=True, on_delete="SET NULL", column_name="template_id"
        )
        message = pw.TextField(default="")
        active = pw.BooleanField(default=True)

        class Meta:
            table_name = "ecommerce_recall_flow"

    class RecallRun(BaseModel):
        flow = pw.ForeignKeyField(RecallFlow, on_delete="CASCADE", column_name="flow_id")
        customer_id = pw.IntegerField(index=True)
        event_id = pw.CharField(max_length=40)
        trigger = pw.CharField(max_length=40)
        started_at = pw.DateTimeField()
        due_at = pw.DateTimeField(index=True)
        status = pw.CharField(max_length=10, default="waiting", index=True)
        exit_reason = pw.CharField(max_length=40, default="")
        code_id = pw.IntegerField(null=True)
        finished_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "ecommerce_recall_run"
            indexes = ((("flow", "event_id"), True), (("flow", "customer_id", "started_at"), False))

    db.create_tables([RecallFlow, RecallRun])
    seed_builtin_grants(db, GRANTS)
