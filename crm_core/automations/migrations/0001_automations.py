"""Automation rules and their run log."""

import datetime

import peewee as pw


def up(migrator, db):
    now = datetime.datetime.utcnow

    class Base(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=now, index=True)
        updated_at = pw.DateTimeField(default=now)

        class Meta:
            database = db
            legacy_table_names = False

    class AutomationRule(Base):
        owner_id = pw.IntegerField(null=True, index=True)
        department_id = pw.IntegerField(null=True, index=True)
        custom = pw.JSONField(default=dict)
        name = pw.CharField(max_length=200)
        description = pw.TextField(default="")
        trigger = pw.CharField(max_length=150, index=True)
        conditions = pw.JSONField(default=dict)
        actions = pw.JSONField(default=list)
        active = pw.BooleanField(default=True)

        class Meta:
            table_name = "automation_rule"

    class AutomationRun(Base):
        rule = pw.ForeignKeyField(AutomationRule, on_delete="CASCADE")
        event_id = pw.CharField(max_length=64)
        event_seq = pw.IntegerField(null=True)
        event_type = pw.CharField(max_length=150)
        customer_id = pw.IntegerField(null=True)
        matched = pw.BooleanField(default=False)
        status = pw.CharField(max_length=15)
        results = pw.JSONField(default=list)
        trace = pw.JSONField(null=True)
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField(null=True)
        error = pw.TextField(null=True)
        finished_at = pw.DateTimeField(default=now)

        class Meta:
            table_name = "automation_run"
            indexes = (
                (("rule", "event_id"), True),
                (("status", "next_attempt_at"), False),
            )

    db.create_tables([AutomationRule, AutomationRun])
