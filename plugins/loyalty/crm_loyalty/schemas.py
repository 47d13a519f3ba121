"""Marshmallow schemas of the loyalty API (they also document it in OpenAPI)."""

from __future__ import annotations

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crm_core.plugin_api import UTCDateTime

from .models import BONUS_KINDS, EXPIRY_MODES, METRICS, REFUND_POLICIES, ROUNDING, RULE_KINDS, WINDOWS

TIER_BASIS = (
    "Tiers are based on the value EARNED in the tier's window (spend amount, paid order count or "
    "growth value, i.e. points earned), never on the spendable points balance: redeeming points "
    "never drops a tier. Upgrades happen on the activity that crosses the threshold; downgrades "
    "only at the scheduled evaluation, after the retention and grace periods."
)


class LoyaltyProgramSchema(Schema):
    """Programme settings."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    pending_days = fields.Integer(
        validate=validate.Range(min=0, max=365),
        metadata={"description": "return window: purchase points stay pending"},
    )
    expiry_mode = fields.String(validate=validate.OneOf(EXPIRY_MODES))
    expiry_days = fields.Integer(validate=validate.Range(min=1, max=3650))
    reminder_days = fields.Integer(validate=validate.Range(min=0, max=365))
    refund_policy = fields.String(
        validate=validate.OneOf(REFUND_POLICIES),
        metadata={"description": "debt: the balance may go negative; clawback: later points are taken"},
    )
    retention_days = fields.Integer(validate=validate.Range(min=0, max=3650))
    grace_days = fields.Integer(validate=validate.Range(min=0, max=3650))
    downgrade_steps = fields.Integer(
        validate=validate.Range(min=0, max=100), metadata={"description": "levels per evaluation; 0 = any"}
    )
    auto_enrol = fields.Boolean()
    updated_at = UTCDateTime(dump_only=True)


class LoyaltyTierSchema(Schema):
    """A tier: threshold on a metric EARNED in a window (never the points balance)."""

    class Meta:
        description = TIER_BASIS

    id = fields.Integer(dump_only=True)
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_-]{1,50}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    rank = fields.Integer(required=True, validate=validate.Range(min=0, max=10000))
    metric = fields.String(
        load_default="spend",
        validate=validate.OneOf(METRICS),
        metadata={"description": "spend | orders | growth: EARNED in the window, not the points balance"},
    )
    window = fields.String(load_default="rolling", validate=validate.OneOf(WINDOWS))
    window_days = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=3660))
    threshold = fields.Decimal(
        load_default=0, as_string=True, validate=validate.Range(min=0, max=10**12), places=2
    )
    multiplier = fields.Decimal(load_default=1, as_string=True, validate=validate.Range(min=0, max=100))
    benefits = fields.Dict(load_default=dict)
    description = fields.String(load_default="")
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)

    @validates_schema
    def _window(self, data, **kwargs):
        if data.get("window") == "rolling" and data.get("window_days") is None and not kwargs.get("partial"):
            raise ValidationError(_("Required for a rolling window."), "window_days")


class LoyaltyRuleSchema(Schema):
    """An earning rule: rate per amount (purchase) or fixed bonus points."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(RULE_KINDS))
    rate = fields.Decimal(
        load_default=0,
        as_string=True,
        validate=validate.Range(min=0, max=1000),
        metadata={"description": "points per currency unit"},
    )
    rounding = fields.String(load_default="down", validate=validate.OneOf(ROUNDING))
    points = fields.Integer(
        load_default=0, validate=validate.Range(min=0, max=10**6), metadata={"description": "bonus points"}
    )
    min_amount = fields.Decimal(load_default=0, as_string=True, validate=validate.Range(min=0, max=10**9))
    apply_multiplier = fields.Boolean(load_default=True)
    cap_per_day = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=10**9))
    cap_per_month = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=10**9))
    active = fields.Boolean(load_default=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class LoyaltyTierPatchSchema(LoyaltyTierSchema):
    """Changes to a tier (only the fields sent)."""


class LoyaltyRulePatchSchema(LoyaltyRuleSchema):
    """Changes to an earning rule (only the fields sent)."""


class LoyaltyPointsSchema(Schema):
    """A member's points by bucket; ``balance`` is the ledger sum."""

    balance = fields.Integer(metadata={"description": "the ledger sum"})
    pending = fields.Integer()
    active = fields.Integer(metadata={"description": "spendable now"})
    overdue = fields.Integer(metadata={"description": "past expiry, removed at the next expiry run"})
    spent = fields.Integer()
    expired = fields.Integer()
    debt = fields.Integer()


class LoyaltyMemberSchema(Schema):
    """A member (enrol input and list item)."""

    id = fields.Integer(dump_only=True)
    customer_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    member_no = fields.String(dump_only=True)
    joined_at = UTCDateTime()
    channel = fields.String(validate=validate.Length(max=100))
    birthday = fields.Date(allow_none=True)
    tier = fields.Function(lambda m: m.tier.code if m.tier_id else None, dump_only=True)
    tier_since = UTCDateTime(dump_only=True, allow_none=True)
    grace_until = UTCDateTime(dump_only=True, allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict()
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class LoyaltyMemberUpdateSchema(Schema):
    """Changes to a member; ``tier`` moves them by hand."""

    channel = fields.String(validate=validate.Length(max=100))
    birthday = fields.Date(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict()
    tier = fields.String(metadata={"description": "tier code: a manual tier change (recorded as such)"})
    reason = fields.String(validate=validate.Length(max=500))


class LoyaltyMemberDetailSchema(LoyaltyMemberSchema):
    """A member with points and tier progress."""

    points = fields.Nested(LoyaltyPointsSchema, dump_only=True)
    progress = fields.Dict(dump_only=True, metadata={"description": TIER_BASIS})


class LoyaltyEntrySchema(Schema):
    """A ledger entry with the lots it created or used."""

    id = fields.Integer()
    kind = fields.String()
    points = fields.Integer()
    reference = fields.String()
    reason = fields.String()
    rule_id = fields.Integer(attribute="rule_id", allow_none=True)
    reverses_id = fields.Integer(attribute="reverses_id", allow_none=True)
    outstanding = fields.Integer()
    actor_id = fields.Integer(allow_none=True)
    created_at = UTCDateTime()
    lots = fields.List(fields.Dict(), dump_default=list)


class LoyaltyTierChangeSchema(Schema):
    """One tier change with its reason."""

    id = fields.Integer()
    from_tier = fields.Function(lambda c: c.from_tier.code if c.from_tier_id else None)
    to_tier = fields.Function(lambda c: c.to_tier.code if c.to_tier_id else None)
    direction = fields.String()
    reason = fields.String()
    actor_id = fields.Integer(allow_none=True)
    created_at = UTCDateTime()


def _reference():
    return fields.String(
        validate=validate.Length(min=1, max=150),
        metadata={"description": "idempotency reference: a repeat with the same one changes nothing"},
    )


class LoyaltyRedeemSchema(Schema):
    """A redemption request."""

    points = fields.Integer(required=True, validate=validate.Range(min=1, max=10**9))
    reference = _reference()
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class LoyaltyAdjustSchema(Schema):
    """A manual credit or deduction."""

    points = fields.Integer(
        required=True,
        validate=validate.Range(min=-(10**9), max=10**9),
        metadata={"description": "positive to credit, negative to deduct (never below zero)"},
    )
    reference = _reference()
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    expires_at = UTCDateTime(allow_none=True)

    @validates_schema
    def _nonzero(self, data, **kwargs):
        if data.get("points") == 0:
            raise ValidationError(_("Must not be zero."), "points")


class LoyaltyReverseSchema(Schema):
    """A reversal of an earning or a redemption."""

    entry_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    points = fields.Integer(
        validate=validate.Range(min=1, max=10**9), metadata={"description": "part of an earning"}
    )
    reference = _reference()
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class LoyaltyLedgerResultSchema(Schema):
    """The result of a ledger write."""

    entry = fields.Nested(LoyaltyEntrySchema)
    created = fields.Boolean()
    points = fields.Nested(LoyaltyPointsSchema)


class LoyaltyActivitySchema(Schema):
    """A qualifying activity fed through the API."""

    customer_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    kind = fields.String(required=True, validate=validate.OneOf(("purchase", "refund", *BONUS_KINDS)))
    reference = fields.String(
        required=True,
        validate=validate.Length(min=1, max=150),
        metadata={"description": "order id (purchase), refund id (refund) or the event's own id"},
    )
    amount = fields.Decimal(as_string=True, validate=validate.Range(min=0, max=10**9), places=2)
    order_reference = fields.String(validate=validate.Length(min=1, max=150))
    occurred_at = UTCDateTime()
    channel = fields.String(load_default="", validate=validate.Length(max=100))

    @validates_schema
    def _needs(self, data, **kwargs):
        if data.get("kind") == "purchase" and data.get("amount") is None:
            raise ValidationError(_("Required for a purchase."), "amount")
        if data.get("kind") == "refund" and not data.get("order_reference"):
            raise ValidationError(_("Required for a refund."), "order_reference")


class LoyaltyActivityResultSchema(Schema):
    """What an activity did."""

    created = fields.Boolean()
    kind = fields.String()
    reference = fields.String()
    entries = fields.List(fields.Nested(LoyaltyEntrySchema))
    member = fields.Nested(LoyaltyMemberDetailSchema)
