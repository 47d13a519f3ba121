"""Greetings and the daily tally."""

import datetime

import peewee as pw


def up(migrator, db):
    class Greeting(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        owner_id = pw.IntegerField(null=True, index=True)
        department_id = pw.IntegerField(null=True, index=True)
        custom = pw.JSONField(default=dict)
        customer_id = pw.IntegerField(null=True, index=True)
        text = pw.CharField(max_length=500)
        private = pw.BooleanField(default=False)
        locked = pw.BooleanField(default=False)
        source_event = pw.CharField(max_length=64, null=True, unique=True)

        class Meta:
            database = db
            table_name = "hello_greeting"

    class Tally(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        day = pw.DateField(unique=True)
        greetings = pw.IntegerField()
        counted_at = pw.DateTimeField()

        class Meta:
            database = db
            table_name = "hello_tally"

    db.create_tables([Greeting, Tally])
