"""Tables of the loyalty programme (all prefixed ``loyalty_``).

The ledger is append-only: ``LedgerEntry`` rows are never edited except for ``outstanding`` (the
part of a debit not yet covered, see :mod:`crm_loyalty.ledger`). Points live in ``Lot`` rows, one
per crediting entry, each with its own availability and expiry; ``Allocation`` rows say which lot
paid for which debit, so a reversal can give back exactly the lots it took.
"""

from __future__ import annotations

import peewee as pw

from crm_core.plugin_api import BaseModel, RecordModel, utcnow

METRICS = ("spend", "orders", "growth")
WINDOWS = ("rolling", "calendar_year", "lifetime")
ROUNDING = ("down", "half_up", "up")
RULE_KINDS = ("purchase", "signup", "birthday", "review", "live_interaction", "referral")
BONUS_KINDS = RULE_KINDS[1:]
ENTRY_KINDS = ("earn", "redeem", "expire", "adjust", "reverse", "clawback")
EXPIRY_MODES = ("never", "days", "month_end", "year_end")
REFUND_POLICIES = ("debt", "clawback")


class Program(BaseModel):
    """The programme's settings: one row (id 1), edited through ``PUT /loyalty/program``."""

    name = pw.CharField(max_length=200, default="Loyalty")
    pending_days = pw.IntegerField(default=0)  # return window: purchase points wait this long
    expiry_mode = pw.CharField(max_length=20, default="days")
    expiry_days = pw.IntegerField(default=365)
    reminder_days = pw.IntegerField(default=30)  # points.expiring this long before a lot expires
    refund_policy = pw.CharField(max_length=20, default="debt")
    retention_days = pw.IntegerField(default=0)  # a tier is kept at least this long
    grace_days = pw.IntegerField(default=30)  # then a failing member has this long to requalify
    downgrade_steps = pw.IntegerField(default=1)  # levels dropped per evaluation; 0 = as many as needed
    auto_enrol = pw.BooleanField(default=True)  # order.paid for a non-member enrols them

    class Meta:
        table_name = "loyalty_program"


class Tier(BaseModel):
    """A level of the programme. Members qualify by a metric EARNED in a window, never by the
    spendable points balance, so redeeming points never costs a tier."""

    code = pw.CharField(max_length=50, unique=True)
    name = pw.CharField(max_length=200)
    rank = pw.IntegerField(unique=True)  # higher is better; the lowest rank is the base tier
    metric = pw.CharField(max_length=20, default="spend")
    window = pw.CharField(max_length=20, default="rolling")
    window_days = pw.IntegerField(null=True)  # for the rolling window
    threshold = pw.DecimalField(max_digits=18, decimal_places=2, default=0)
    multiplier = pw.DecimalField(max_digits=8, decimal_places=4, default=1)
    benefits = pw.JSONField(default=dict)  # {"discount_rate": "0.05", "free_shipping": true, "perks": [...]}
    description = pw.TextField(default="")

    class Meta:
        table_name = "loyalty_tier"


class EarningRule(BaseModel):
    """How points are earned: per amount spent (purchase) or fixed points for a bonus event."""

    name = pw.CharField(max_length=200)
    kind = pw.CharField(max_length=30, index=True)
    rate = pw.DecimalField(max_digits=12, decimal_places=4, default=0)  # points per currency unit
    rounding = pw.CharField(max_length=10, default="down")
    points = pw.IntegerField(default=0)  # fixed points for bonus events
    min_amount = pw.DecimalField(max_digits=18, decimal_places=2, default=0)
    apply_multiplier = pw.BooleanField(default=True)
    cap_per_day = pw.IntegerField(null=True)
    cap_per_month = pw.IntegerField(null=True)
    active = pw.BooleanField(default=True)

    class Meta:
        table_name = "loyalty_rule"


class Member(RecordModel):
    """A customer enrolled in the programme; ``owner_id``/``department_id`` drive row scopes."""

    # a foreign key to the core's ``customer.id`` ON DELETE RESTRICT (migration 0003: the ledger
    # never disappears with a customer row; privacy erasure deletes the member explicitly). Kept a
    # plain column here so that importing the plugin does not import the core's entity models.
    customer_id = pw.IntegerField(unique=True)
    member_no = pw.CharField(max_length=40, unique=True)
    joined_at = pw.DateTimeField(default=utcnow)
    channel = pw.CharField(max_length=100, default="")
    birthday = pw.DateField(null=True)
    tier = pw.ForeignKeyField(Tier, null=True, on_delete="SET NULL", column_name="tier_id")
    tier_since = pw.DateTimeField(null=True)
    grace_until = pw.DateTimeField(null=True)  # set while failing the tier's threshold at evaluation

    class Meta:
        table_name = "loyalty_member"


class LedgerEntry(BaseModel):
    """One change of a member's points; the balance is the sum of ``points``."""

    member = pw.ForeignKeyField(Member, on_delete="CASCADE", column_name="member_id")
    kind = pw.CharField(max_length=20)
    points = pw.IntegerField()
    reference = pw.CharField(max_length=200)
    reason = pw.CharField(max_length=500, default="")
    rule = pw.ForeignKeyField(EarningRule, null=True, on_delete="SET NULL", column_name="rule_id")
    reverses = pw.ForeignKeyField("self", null=True, on_delete="SET NULL", column_name="reverses_id")
    outstanding = pw.IntegerField(default=0)
    debt_policy = pw.CharField(max_length=10, null=True)  # how ``outstanding`` is settled
    requested = pw.IntegerField(default=0)  # reversals: points asked to undo (migration 0002)
    actor_id = pw.IntegerField(null=True)

    class Meta:
        table_name = "loyalty_entry"
        indexes = ((("member", "kind", "reference"), True),)


class Lot(BaseModel):
    """Points credited by one entry, spent down by allocations."""

    member = pw.ForeignKeyField(Member, on_delete="CASCADE", column_name="member_id")
    entry = pw.ForeignKeyField(LedgerEntry, on_delete="CASCADE", column_name="entry_id")
    points = pw.IntegerField()
    remaining = pw.IntegerField()
    earned_at = pw.DateTimeField(default=utcnow)
    available_at = pw.DateTimeField(index=True)
    expires_at = pw.DateTimeField(null=True, index=True)
    activated_at = pw.DateTimeField(null=True)
    reminded_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "loyalty_lot"


class Allocation(BaseModel):
    """``points`` of ``lot`` used by ``entry`` (negative when a reversal gave them back)."""

    entry = pw.ForeignKeyField(LedgerEntry, on_delete="CASCADE", column_name="entry_id")
    lot = pw.ForeignKeyField(Lot, on_delete="CASCADE", column_name="lot_id")
    points = pw.IntegerField()

    class Meta:
        table_name = "loyalty_allocation"


class Activity(BaseModel):
    """A qualifying activity counted towards tiers: spend, paid orders and growth value."""

    member = pw.ForeignKeyField(Member, on_delete="CASCADE", column_name="member_id")
    kind = pw.CharField(max_length=30)
    reference = pw.CharField(max_length=200)
    occurred_at = pw.DateTimeField(default=utcnow)
    amount = pw.DecimalField(max_digits=18, decimal_places=2, default=0)
    orders = pw.IntegerField(default=0)
    growth = pw.DecimalField(max_digits=18, decimal_places=2, default=0)
    order_reference = pw.CharField(max_length=200, null=True)  # for refunds: the order refunded

    class Meta:
        table_name = "loyalty_activity"
        indexes = ((("member", "kind", "reference"), True), (("member", "occurred_at"), False))


class TierChange(BaseModel):
    """Every tier change of a member, with its reason."""

    member = pw.ForeignKeyField(Member, on_delete="CASCADE", column_name="member_id")
    from_tier = pw.ForeignKeyField(Tier, null=True, on_delete="SET NULL", column_name="from_tier_id")
    to_tier = pw.ForeignKeyField(
        Tier, null=True, on_delete="SET NULL", column_name="to_tier_id", backref="entered"
    )
    direction = pw.CharField(max_length=10)  # up, down, initial, manual
    reason = pw.CharField(max_length=500)
    actor_id = pw.IntegerField(null=True)

    class Meta:
        table_name = "loyalty_tier_change"


class Evaluation(pw.Model):
    """Scratch table of one tier evaluation run (qualified rank per member), filled set-based."""

    member_id = pw.IntegerField(primary_key=True)
    current_rank = pw.IntegerField(null=True)
    qualified_rank = pw.IntegerField(null=True)
    target_rank = pw.IntegerField(null=True)

    class Meta:
        table_name = "loyalty_evaluation"
        database = BaseModel._meta.database


MODELS = [Program, Tier, EarningRule, Member, LedgerEntry, Lot, Allocation, Activity, TierChange, Evaluation]
