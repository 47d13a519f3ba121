"""Medical tables: records (one visit each), appointments, break-glass grants."""

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

    class Customer(pw.Model):
        class Meta:
            database = db
            table_name = "customer"

    class MedicalRecord(RecordModel):
        customer = pw.ForeignKeyField(Customer, on_delete="RESTRICT")
        visit_no = pw.CharField(max_length=64, default="", index=True)
        visit_type = pw.CharField(max_length=20, default="outpatient")
        visit_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        discharged_at = pw.DateTimeField(null=True)
        doctor_id = pw.IntegerField(null=True, index=True)
        attachments = pw.JSONField(default=list)
        revision = pw.IntegerField(default=1)

        class Meta:
            table_name = "medical_record"
            indexes = ((("customer", "visit_at"), False),)

    class Appointment(RecordModel):
        customer = pw.ForeignKeyField(Customer, on_delete="RESTRICT")
        doctor_id = pw.IntegerField(index=True)
        start_at = pw.DateTimeField(index=True)
        end_at = pw.DateTimeField()
        status = pw.CharField(max_length=20, default="booked")
        note = pw.CharField(max_length=500, default="")

        class Meta:
            table_name = "medical_appointment"
            # the clash check reads one doctor's slots around a time
            indexes = ((("doctor_id", "start_at"), False),)

    class BreakGlass(BaseModel):
        owner_id = pw.IntegerField(index=True)
        department_id = pw.IntegerField(index=True)
        customer = pw.ForeignKeyField(Customer, on_delete="RESTRICT")
        reason_code = pw.CharField(max_length=32)
        reason = pw.TextField()
        started_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        expires_at = pw.DateTimeField(index=True)
        stopped_at = pw.DateTimeField(null=True)
        reviewed_at = pw.DateTimeField(null=True, index=True)
        reviewed_by_id = pw.IntegerField(null=True)
        decision = pw.CharField(max_length=20, default="")
        review_note = pw.TextField(default="")

        class Meta:
            table_name = "medical_break_glass"
            # the isolation filter asks: an open grant of this clinician for this patient
            indexes = ((("owner_id", "customer", "department_id", "expires_at"), False),)

    db.create_tables([MedicalRecord, Appointment, BreakGlass])
