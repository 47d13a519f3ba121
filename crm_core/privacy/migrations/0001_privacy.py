"""Privacy requests and consent records, and the built-in roles' grants on them."""

import datetime

import peewee as pw

from crm_core.permissions.builtin import seed_builtin_grants

GRANTS = {
    # managers answer requests for their branch (the customers they may read)
    "manager": [
        *[("privacy.requests", a, "all") for a in ("read", "create", "process", "reject")],
        *[("privacy.consents", a, "all") for a in ("read", "create")],
    ],
    # front-line staff log requests and consents they receive; they do not answer requests
    "service": [
        *[("privacy.requests", a, "all") for a in ("read", "create")],
        *[("privacy.consents", a, "all") for a in ("read", "create")],
    ],
    "sales": [*[("privacy.consents", a, "all") for a in ("read", "create")]],
    "readonly": [("privacy.consents", "read", "all")],
}


def up(migrator, db):
    now = datetime.datetime.utcnow

    class Customer(pw.Model):
        class Meta:
            database = db
            table_name = "customer"

    class PrivacyRequest(pw.Model):
        created_at = pw.DateTimeField(default=now, index=True)
        updated_at = pw.DateTimeField(default=now)
        kind = pw.CharField(max_length=20, index=True)
        customer = pw.ForeignKeyField(Customer, null=True, on_delete="SET NULL")
        status = pw.CharField(max_length=20, default="received", index=True)
        requested_at = pw.DateTimeField(default=now)
        due_at = pw.DateTimeField(index=True)
        channel = pw.CharField(max_length=20, default="other")
        notes = pw.TextField(default="")
        requested_by_id = pw.IntegerField(null=True)
        handled_by_id = pw.IntegerField(null=True)
        started_at = pw.DateTimeField(null=True)
        completed_at = pw.DateTimeField(null=True)
        result = pw.TextField(null=True)
        result_expires_at = pw.DateTimeField(null=True)
        rejection_reason = pw.TextField(default="")
        error = pw.TextField(default="")

        class Meta:
            database = db
            table_name = "privacy_request"

    class ConsentRecord(pw.Model):
        created_at = pw.DateTimeField(default=now, index=True)
        updated_at = pw.DateTimeField(default=now)
        customer = pw.ForeignKeyField(Customer, on_delete="CASCADE")
        purpose = pw.CharField(max_length=64)
        legal_basis = pw.CharField(max_length=32, default="consent")
        status = pw.CharField(max_length=10)
        source = pw.CharField(max_length=20, default="other")
        recorded_at = pw.DateTimeField(default=now)
        recorded_by_id = pw.IntegerField(null=True)
        evidence = pw.TextField(default="")

        class Meta:
            database = db
            table_name = "privacy_consent"
            indexes = ((("customer", "purpose", "recorded_at"), False),)

    db.create_tables([PrivacyRequest, ConsentRecord])
    seed_builtin_grants(db, GRANTS)
