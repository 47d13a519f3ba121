"""Core CRM objects: customers, companies, contacts, pipelines, deals, activities, tickets, tags,
segments (frozen copies of the models as of this migration)."""

import datetime

import peewee as pw


def up(migrator, db):
    class Base(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            legacy_table_names = False

    class BaseModel(Base):
        pass

    class RecordModel(Base):
        owner_id = pw.IntegerField(null=True, index=True)
        department_id = pw.IntegerField(null=True, index=True)
        custom = pw.JSONField(default=dict)

    class Customer(RecordModel):
        name = pw.CharField(max_length=200)
        phone = pw.CharField(max_length=32, null=True, unique=True)
        email = pw.CharField(max_length=254, null=True, unique=True)
        gender = pw.CharField(max_length=10, null=True)
        birthday = pw.DateField(null=True)
        source_channel = pw.CharField(max_length=100, null=True)
        lifecycle_stage = pw.CharField(max_length=20, default="lead")

        class Meta:
            table_name = "customer"
            indexes = (
                (("source_channel", "created_at", "id"), False),
                (("lifecycle_stage", "created_at", "id"), False),
                (("department_id", "created_at", "id"), False),
                (("owner_id", "created_at", "id"), False),
            )

    class Company(RecordModel):
        name = pw.CharField(max_length=200)
        parent = pw.ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
        path = pw.CharField(max_length=1000, default="", index=True)
        industry = pw.CharField(max_length=100, null=True)
        website = pw.CharField(max_length=300, null=True)
        phone = pw.CharField(max_length=32, null=True)
        email = pw.CharField(max_length=254, null=True)
        address = pw.CharField(max_length=500, null=True)

        class Meta:
            table_name = "company"

    class Contact(RecordModel):
        customer = pw.ForeignKeyField(Customer, backref="contacts", on_delete="CASCADE")
        company = pw.ForeignKeyField(Company, backref="contacts", on_delete="CASCADE")
        role = pw.CharField(max_length=100, default="")
        is_primary = pw.BooleanField(default=False)

        class Meta:
            table_name = "contact"
            indexes = ((("customer", "company"), True),)

    class Pipeline(BaseModel):
        name = pw.CharField(max_length=200, unique=True)
        is_default = pw.BooleanField(default=False)

        class Meta:
            table_name = "pipeline"

    class Stage(BaseModel):
        pipeline = pw.ForeignKeyField(Pipeline, backref="stage_rows", on_delete="CASCADE")
        name = pw.CharField(max_length=200)
        position = pw.IntegerField(default=0)
        probability = pw.IntegerField(default=0)
        kind = pw.CharField(max_length=10, default="open")

        class Meta:
            table_name = "stage"
            indexes = ((("pipeline", "position"), False), (("pipeline", "name"), True))

    class Deal(RecordModel):
        title = pw.CharField(max_length=300)
        customer = pw.ForeignKeyField(Customer, null=True, backref="deals", on_delete="SET NULL")
        company = pw.ForeignKeyField(Company, null=True, backref="deals", on_delete="SET NULL")
        pipeline = pw.ForeignKeyField(Pipeline, backref="deals", on_delete="RESTRICT")
        stage = pw.ForeignKeyField(Stage, backref="deals", on_delete="RESTRICT")
        amount = pw.DecimalField(max_digits=16, decimal_places=2, default=0, auto_round=True)
        currency = pw.CharField(max_length=3, default="CNY")
        expected_close_date = pw.DateField(null=True)
        status = pw.CharField(max_length=10, default="open", index=True)
        close_reason = pw.TextField(null=True)
        closed_at = pw.DateTimeField(null=True)
        stage_changed_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "deal"
            indexes = ((("pipeline", "stage"), False),)

    class DealStageChange(BaseModel):
        deal = pw.ForeignKeyField(Deal, backref="stage_changes", on_delete="CASCADE")
        from_stage = pw.ForeignKeyField(Stage, null=True, on_delete="SET NULL", backref="+")
        to_stage = pw.ForeignKeyField(Stage, null=True, on_delete="SET NULL", backref="+")
        changed_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        actor_id = pw.IntegerField(null=True)

        class Meta:
            table_name = "deal_stage_change"

    class Activity(RecordModel):
        kind = pw.CharField(max_length=10)
        subject = pw.CharField(max_length=300)
        body = pw.TextField(default="")
        due_at = pw.DateTimeField(null=True)
        done = pw.BooleanField(default=False)
        done_at = pw.DateTimeField(null=True)
        related_type = pw.CharField(max_length=40, null=True)
        related_id = pw.IntegerField(null=True)
        customer = pw.ForeignKeyField(Customer, null=True, backref="activities", on_delete="CASCADE")

        class Meta:
            table_name = "activity"
            indexes = ((("related_type", "related_id"), False), (("customer", "created_at"), False))

    class Ticket(RecordModel):
        title = pw.CharField(max_length=300)
        description = pw.TextField(default="")
        customer = pw.ForeignKeyField(Customer, null=True, backref="tickets", on_delete="SET NULL")
        priority = pw.CharField(max_length=10, default="normal")
        status = pw.CharField(max_length=15, default="new", index=True)
        assignee_id = pw.IntegerField(null=True, index=True)
        sla_due_at = pw.DateTimeField(null=True, index=True)
        resolved_at = pw.DateTimeField(null=True)
        closed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "ticket"

    class TicketTransition(BaseModel):
        ticket = pw.ForeignKeyField(Ticket, backref="transitions", on_delete="CASCADE")
        from_status = pw.CharField(max_length=15, null=True)
        to_status = pw.CharField(max_length=15)
        changed_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        actor_id = pw.IntegerField(null=True)

        class Meta:
            table_name = "ticket_transition"

    class Tag(BaseModel):
        name = pw.CharField(max_length=100, unique=True)
        color = pw.CharField(max_length=20, default="")

        class Meta:
            table_name = "tag"

    class CustomerTag(pw.Model):
        customer = pw.ForeignKeyField(Customer, backref="tag_links", on_delete="CASCADE")
        tag = pw.ForeignKeyField(Tag, backref="customer_links", on_delete="CASCADE")

        class Meta:
            database = db
            table_name = "customer_tag"
            primary_key = pw.CompositeKey("customer", "tag")
            indexes = ((("tag", "customer"), False),)

    class Segment(RecordModel):
        name = pw.CharField(max_length=200)
        description = pw.TextField(default="")
        filters = pw.JSONField(default=dict)

        class Meta:
            table_name = "segment"

    db.create_tables(
        [
            Customer,
            Company,
            Contact,
            Pipeline,
            Stage,
            Deal,
            DealStageChange,
            Activity,
            Ticket,
            TicketTransition,
            Tag,
            CustomerTag,
            Segment,
        ]
    )
