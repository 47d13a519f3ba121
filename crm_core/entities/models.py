"""The core CRM objects: customers, companies, contacts, deals, activities, tickets, tags, segments.

Every business record inherits ``RecordModel`` (owner, department, ``custom``). Indexes follow
what lists filter and sort by: ``(column, created_at, id)`` lets the database read a filtered page
newest-first straight from the index instead of sorting every match.
"""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel, RecordModel, utcnow
from ..records.references import register_target

GENDERS = ("male", "female", "other", "unknown")
LIFECYCLE_STAGES = ("lead", "prospect", "customer", "vip", "churned")
ACTIVITY_KINDS = ("note", "call", "meeting", "task")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("new", "assigned", "in_progress", "resolved", "closed")
STAGE_KINDS = ("open", "won", "lost")
DEAL_STATUSES = ("open", "won", "lost")
#: Objects an activity may be attached to (API collection names).
ACTIVITY_TARGETS = ("customers", "companies", "contacts", "deals", "tickets")


class Customer(RecordModel):
    """A person the business serves (member, patient, student...). Phone (E.164) and e-mail
    (lower-case) are unique when present; NULLs never collide in a unique index."""

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

    @property
    def tags(self) -> list[str]:
        """Tag names, sorted; lists load them for a whole page at once (``prefetch_tags``)."""
        cached = self.__dict__.get("_tags")
        if cached is None:
            cached = []
            if self.id is not None:
                query = Tag.select(Tag.name).join(CustomerTag).where(CustomerTag.customer == self.id)
                cached = sorted(t.name for t in query)
            self._tags = cached
        return cached


class Company(RecordModel):
    """An organisation; ``parent`` makes dealer/distributor trees of any depth. ``path`` is the
    materialized path of ids (``/1/4/9/``) so a whole subtree is one indexed prefix query."""

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
    """A customer's role at a company (buyer, owner, store manager...)."""

    customer = pw.ForeignKeyField(Customer, backref="contacts", on_delete="CASCADE")
    company = pw.ForeignKeyField(Company, backref="contacts", on_delete="CASCADE")
    role = pw.CharField(max_length=100, default="")
    is_primary = pw.BooleanField(default=False)

    class Meta:
        table_name = "contact"
        indexes = ((("customer", "company"), True),)


class Pipeline(BaseModel):
    """A sales process: an ordered list of stages."""

    name = pw.CharField(max_length=200, unique=True)
    is_default = pw.BooleanField(default=False)

    class Meta:
        table_name = "pipeline"

    @property
    def stages(self) -> list[Stage]:
        """Stages in order; lists load them for a whole page at once (``prefetch_stages``)."""
        cached = self.__dict__.get("_stages")
        if cached is None:
            cached = list(Stage.select().where(Stage.pipeline == self.id).order_by(Stage.position))
            self._stages = cached
        return cached


class Stage(BaseModel):
    """One step of a pipeline; ``kind`` won/lost stages close the deal."""

    pipeline = pw.ForeignKeyField(Pipeline, backref="stage_rows", on_delete="CASCADE")
    name = pw.CharField(max_length=200)
    position = pw.IntegerField(default=0)
    probability = pw.IntegerField(default=0)
    kind = pw.CharField(max_length=10, default="open")

    class Meta:
        table_name = "stage"
        indexes = ((("pipeline", "position"), False), (("pipeline", "name"), True))


class Deal(RecordModel):
    """A sales opportunity moving through the stages of a pipeline. Money is Decimal."""

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
    stage_changed_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "deal"
        indexes = ((("pipeline", "stage"), False),)


class DealStageChange(BaseModel):
    """History of a deal's stage: one row per move (the first row is the deal's creation)."""

    deal = pw.ForeignKeyField(Deal, backref="stage_changes", on_delete="CASCADE")
    from_stage = pw.ForeignKeyField(Stage, null=True, on_delete="SET NULL", backref="+")
    to_stage = pw.ForeignKeyField(Stage, null=True, on_delete="SET NULL", backref="+")
    changed_at = pw.DateTimeField(default=utcnow, index=True)
    actor_id = pw.IntegerField(null=True)

    class Meta:
        table_name = "deal_stage_change"


class Activity(RecordModel):
    """A note, call, meeting or task attached to any object (``related_type``/``related_id``).
    ``customer`` is set whenever the target belongs to a customer, so timelines are one query."""

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
    """A service work order with a status flow and an SLA due time set from its priority."""

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

    @property
    def sla_breached(self) -> bool:
        """True when the ticket was (or still is not) resolved after its SLA due time."""
        if self.sla_due_at is None:
            return False
        return (self.resolved_at or utcnow()) > self.sla_due_at


class TicketTransition(BaseModel):
    """History of a ticket's status: one row per transition."""

    ticket = pw.ForeignKeyField(Ticket, backref="transitions", on_delete="CASCADE")
    from_status = pw.CharField(max_length=15, null=True)
    to_status = pw.CharField(max_length=15)
    changed_at = pw.DateTimeField(default=utcnow, index=True)
    actor_id = pw.IntegerField(null=True)

    class Meta:
        table_name = "ticket_transition"


class Tag(BaseModel):
    """A label on customers (``vip``, ``kol``)."""

    name = pw.CharField(max_length=100, unique=True)
    color = pw.CharField(max_length=20, default="")

    class Meta:
        table_name = "tag"


class CustomerTag(pw.Model):
    """The many-to-many link of customers and tags."""

    customer = pw.ForeignKeyField(Customer, backref="tag_links", on_delete="CASCADE")
    tag = pw.ForeignKeyField(Tag, backref="customer_links", on_delete="CASCADE")

    class Meta:
        database = Customer._meta.database
        table_name = "customer_tag"
        primary_key = pw.CompositeKey("customer", "tag")
        indexes = ((("tag", "customer"), False),)


class Segment(RecordModel):
    """A saved filter over customers: ``filters`` holds list-API query parameters."""

    name = pw.CharField(max_length=200)
    description = pw.TextField(default="")
    filters = pw.JSONField(default=dict)

    class Meta:
        table_name = "segment"


MODELS = [
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

# deals point at these (``stage_id``); they are configuration, not collections of their own
register_target("pipelines", Pipeline)
register_target("stages", Stage)
