"""The waiting list of full classes and sessions (排队): ``education_waitlist``."""

import datetime

import peewee as pw


def up(migrator, db):
    class Stub(pw.Model):
        id = pw.AutoField()

        class Meta:
            database = db

    class Klass(Stub):
        class Meta:
            table_name = "education_class"

    class Session(Stub):
        class Meta:
            table_name = "education_session"

    class Waitlist(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        owner_id = pw.IntegerField(null=True, index=True)
        department_id = pw.IntegerField(null=True, index=True)
        custom = pw.JSONField(default=dict)
        customer_id = pw.IntegerField(index=True)
        klass = pw.ForeignKeyField(Klass, on_delete="CASCADE", column_name="class_id")
        session = pw.ForeignKeyField(Session, null=True, on_delete="CASCADE", column_name="session_id")
        status = pw.CharField(max_length=20, default="waiting", index=True)
        note = pw.CharField(max_length=500, default="")
        offered_at = pw.DateTimeField(null=True)
        offer_expires_at = pw.DateTimeField(null=True)
        resolved_at = pw.DateTimeField(null=True)
        result_id = pw.IntegerField(null=True)

        class Meta:
            database = db
            table_name = "education_waitlist"

    db.create_tables([Waitlist])
