"""The plugin's REST API.

- ``/api/v1/track`` and ``/api/v1/track/batch``: event ingestion with write-only keys (the views
  are ``@public`` for the core's bearer-token check and verify the ingestion key themselves),
  CORS and a rate limit per key.
- ``/api/v1/channel-tracking/...``: channels, campaigns with spend, tracking links with QR codes,
  ingestion keys, conversions, sessions, reports and funnels, permission-checked through
  ``crm_core.plugin_api`` permission functions (resources ``channel_tracking.*``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import current_app, request
from flask.views import MethodView
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crm_core.plugin_api import (
    API_PREFIX,
    APIError,
    Blueprint,
    UTCDateTime,
    checks_nul_itself,
    create_record,
    current_actor,
    database,
    delete_record,
    emit,
    get_record,
    public,
    record_dict,
    register_crud,
    require,
    utcnow,
)

from . import customers
from . import keys as ingest_keys
from .attribution import DEFAULT_MODEL, MODELS
from .classify import GROUPS
from .conversions import record_conversion
from .funnels import DEFAULT_WINDOW_DAYS
from .ingest import MAX_BATCH, ingest
from .links import new_code, qr_image, unsafe_reason
from .models import Campaign, Channel, Conversion, Credit, IngestKey, Spend, Touchpoint, TrackingLink
from .reports import channel_report, funnel_report
from .sessions import sessionize
from .settings import setting, setting_list
from .spend import set_spend

track_blp = Blueprint(
    "channel_tracking_ingest",
    __name__,
    url_prefix=f"{API_PREFIX}/track",
    description="Touchpoint ingestion (write-only ingestion keys in X-Tracking-Key)",
)
blp = Blueprint(
    "channel_tracking",
    __name__,
    url_prefix=f"{API_PREFIX}/channel-tracking",
    description="Channels, campaigns, tracking links, conversions, attribution reports and funnels",
)

KEY_SECURITY = [{"trackingKey": []}]
MAX_INT = 2**31 - 1
MAX_BIGINT = 2**63 - 1
MAX_MONEY = Decimal("999999999999.99")  # the columns hold 14 digits, 2 after the point
CENTS = Decimal("0.01")

# --- ingestion ---------------------------------------------------------------------------------


class TrackingEventSchema(Schema):
    """One tracked event (documentation of the accepted body; validation is in ``ingest``)."""

    visitor_id = fields.String(required=True, metadata={"description": "anonymous visitor id (cookie)"})
    customer_id = fields.Integer(
        metadata={"description": "CRM customer id once known (stitches the visitor)"}
    )
    event_type = fields.String(required=True, metadata={"example": "page_view"})
    utm_source = fields.String()
    utm_medium = fields.String()
    utm_campaign = fields.String()
    utm_term = fields.String()
    utm_content = fields.String()
    gclid = fields.String()
    fbclid = fields.String()
    msclkid = fields.String()
    ttclid = fields.String()
    click_ids = fields.Dict(metadata={"description": "other click ids, kept as given"})
    referrer = fields.String()
    url = fields.String(metadata={"description": "page URL; UTM values in it are used when not given"})
    timestamp = fields.String(metadata={"description": "client time, ISO 8601 or epoch milliseconds"})


class TrackingBatchSchema(Schema):
    events = fields.List(fields.Nested(TrackingEventSchema), required=True)


class TrackingIngestResultSchema(Schema):
    accepted = fields.Integer()
    rejected = fields.List(fields.Dict(), metadata={"description": "[{index, errors: {field: [msg]}}]"})


def _limiter():
    ext = current_app.extensions.setdefault("channel_tracking", {})
    if "limiter" not in ext:
        ext["limiter"] = FixedWindowRateLimiter(
            storage_from_string(current_app.config.get("RATELIMIT_STORAGE_URL") or "memory://")
        )
    return ext["limiter"]


def _check_rate(key_id: str) -> None:
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    item = parse_limit(str(setting("RATE_LIMIT")))
    limiter = _limiter()
    if not limiter.hit(item, "channel_tracking.ingest", key_id):
        reset = limiter.get_window_stats(item, "channel_tracking.ingest", key_id).reset_time
        retry = max(1, int(reset - dt.datetime.now(dt.UTC).timestamp()) + 1)
        raise APIError(429, "Too many ingestion requests for this key.", headers={"Retry-After": str(retry)})


def _events_body() -> object:
    body = request.get_json(silent=True)
    if body is None:
        raise APIError(400, "Malformed JSON body.", errors={"_schema": ["Invalid JSON body."]})
    return body


def _accept(events: list) -> tuple[int, list[dict]]:
    """Store the valid events (one transaction) and announce identified, non-direct touches."""
    with database.atomic():
        stored, rejected, rows = ingest(events)
        _sample_events(rows)
    return stored, rejected


def _sample_events(rows: list[dict]) -> None:
    """``touchpoint.recorded`` for automation, sampled for volume: only touches of known customers
    from a channel other than direct, once per customer, channel and campaign per request."""
    seen = set()
    for r in rows:
        if not r["customer_id"] or r["channel_group"] == "direct":
            continue
        key = (r["customer_id"], r["channel_group"], r["campaign_id"])
        if key in seen:
            continue
        seen.add(key)
        emit(
            "touchpoint.recorded",
            {
                "customer_id": r["customer_id"],
                "visitor_id": r["visitor_id"],
                "channel": r["channel_group"],
                "campaign": r.get("utm_campaign"),
                "campaign_id": r["campaign_id"],
                "kol": r["kol"],
                "event_type": r["event_type"],
                "occurred_at": r["occurred_at"],
            },
            resource="channel_tracking.touchpoints",
        )


@track_blp.after_request
def _cors(response):
    origin = request.headers.get("Origin")
    allowed = setting_list("CORS_ORIGINS")
    if origin and ("*" in allowed or origin.lower() in allowed):
        response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = f"Content-Type, {ingest_keys.HEADER}"
        response.headers["Access-Control-Max-Age"] = "86400"
        if "*" not in allowed:
            response.headers["Vary"] = "Origin"
    return response


@track_blp.route("")
@public
@checks_nul_itself  # per event: a batch keeps its good events
class Track(MethodView):
    @track_blp.doc(
        security=KEY_SECURITY,
        requestBody={"required": True, "content": {"application/json": {"schema": TrackingEventSchema}}},
    )
    @track_blp.response(202, TrackingIngestResultSchema)
    @track_blp.alt_response(422, description="The event is invalid (per-field reasons)")
    @track_blp.alt_response(401, description="Missing, invalid or revoked ingestion key")
    @track_blp.alt_response(429, description="Rate limited (Retry-After)")
    def post(self):
        """Record one event (ingestion key in ``X-Tracking-Key``)."""
        key_id = ingest_keys.request_key()
        _check_rate(key_id)
        stored, rejected = _accept([_events_body()])
        if not stored:
            raise APIError(422, "Invalid event.", errors=rejected[0]["errors"])
        return {"accepted": stored, "rejected": []}


@track_blp.route("/batch")
@public
@checks_nul_itself  # per event: a batch keeps its good events
class TrackBatch(MethodView):
    @track_blp.doc(
        security=KEY_SECURITY,
        requestBody={"required": True, "content": {"application/json": {"schema": TrackingBatchSchema}}},
    )
    @track_blp.response(200, TrackingIngestResultSchema)
    @track_blp.alt_response(413, description=f"More than {MAX_BATCH} events")
    @track_blp.alt_response(422, description="No event of the batch is valid")
    def post(self):
        """Record up to 1,000 events: valid ones are stored, invalid ones come back with reasons."""
        key_id = ingest_keys.request_key()
        _check_rate(key_id)
        body = _events_body()
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise APIError(422, "Invalid input: events.", errors={"events": ["Must be a list of events."]})
        if len(events) > MAX_BATCH:
            raise APIError(413, f"At most {MAX_BATCH} events per batch (got {len(events)}).")
        stored, rejected = _accept(events)
        if events and not stored:
            raise APIError(
                422, "No valid event in the batch.", errors={"events": rejected}, rejected=rejected
            )
        return {"accepted": stored, "rejected": rejected}


# --- channels and campaigns --------------------------------------------------------------------


class TrackingChannelSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    group = fields.String(required=True, validate=validate.OneOf(GROUPS))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class TrackingCampaignSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    channel_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=MAX_INT))
    utm_source = fields.String(load_default="", validate=validate.Length(max=200))
    utm_medium = fields.String(load_default="", validate=validate.Length(max=200))
    utm_campaign = fields.String(required=True, validate=validate.Length(min=1, max=200))
    utm_term = fields.String(load_default="", validate=validate.Length(max=200))
    utm_content = fields.String(load_default="", validate=validate.Length(max=200))
    kol = fields.String(allow_none=True, validate=validate.Length(max=200))
    budget = fields.Decimal(
        allow_none=True, as_string=True, places=2, validate=validate.Range(min=0, max=MAX_MONEY)
    )
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error="Use an ISO 4217 code (CNY)."))
    starts_on = fields.Date(allow_none=True)
    ends_on = fields.Date(allow_none=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)

    @validates_schema
    def _dates(self, data, **kwargs):
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            raise ValidationError("Must not be before starts_on.", "ends_on")


def _campaign_checks(record, data, before):
    channel_id = data.get("channel_id", data.get("channel"))
    if channel_id is not None and not Channel.select().where(Channel.id == channel_id).exists():
        raise APIError(
            422, "Invalid input: channel_id.", errors={"channel_id": [f"No channel {channel_id}."]}
        )
    if not record.currency:
        record.currency = setting("CURRENCY")
    clash = Campaign.select().where(Campaign.utm_campaign == record.utm_campaign)
    if record.id:
        clash = clash.where(Campaign.id != record.id)
    if clash.exists():
        raise APIError(
            409, "A campaign with this utm_campaign exists.", errors={"utm_campaign": ["Already used."]}
        )


def _channel_checks(record, data, before):
    clash = Channel.select().where(Channel.name == record.name)
    if record.id:
        clash = clash.where(Channel.id != record.id)
    if clash.exists():
        raise APIError(409, "A channel with this name exists.", errors={"name": ["Already used."]})


register_crud(
    blp,
    "channel_tracking.channels",
    Channel,
    TrackingChannelSchema,
    path="/channels",
    name="channels",
    search_fields=lambda: [Channel.name],
    before_save=_channel_checks,
    description="channels",
)
register_crud(
    blp,
    "channel_tracking.campaigns",
    Campaign,
    TrackingCampaignSchema,
    path="/campaigns",
    name="campaigns",
    search_fields=lambda: [Campaign.name, Campaign.utm_campaign],
    before_save=_campaign_checks,
    description="campaigns",
)


class TrackingSpendDaySchema(Schema):
    day = fields.Date(required=True)
    amount = fields.Decimal(
        required=True, as_string=True, places=2, validate=validate.Range(min=0, max=MAX_MONEY)
    )


class TrackingSpendBodySchema(Schema):
    days = fields.List(
        fields.Nested(TrackingSpendDaySchema), required=True, validate=validate.Length(min=1, max=3660)
    )


@blp.route("/campaigns/<int:campaign_id>/spend")
class CampaignSpend(MethodView):
    @blp.response(200, TrackingSpendDaySchema(many=True))
    def get(self, campaign_id):
        """Daily spend of a campaign, oldest first."""
        campaign = get_record(Campaign, campaign_id, current_actor(), "channel_tracking.campaigns")
        return list(Spend.select().where(Spend.campaign == campaign).order_by(Spend.day))

    @blp.arguments(TrackingSpendBodySchema)
    @blp.response(200, TrackingSpendDaySchema(many=True))
    def put(self, body, campaign_id):
        """Enter or import spend by day: each given day is set (replaced), others are kept."""
        actor = current_actor()
        campaign = get_record(Campaign, campaign_id, actor, "channel_tracking.campaigns", "update")
        days = {}
        for item in body["days"]:
            days[item["day"]] = item["amount"]  # a day given twice: the last value wins
        set_spend(campaign, days, actor)
        return list(Spend.select().where(Spend.campaign == campaign).order_by(Spend.day))


# --- tracking links and QR codes ---------------------------------------------------------------


class TrackingLinkSchema(Schema):
    id = fields.Integer(dump_only=True)
    code = fields.String(dump_only=True)
    campaign_id = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_INT))
    kol = fields.String(allow_none=True, validate=validate.Length(max=200))
    target_url = fields.String(required=True, validate=validate.Length(min=1, max=1800))
    clicks = fields.Integer(dump_only=True)
    short_url = fields.Method("_short_url", dump_only=True)
    created_at = UTCDateTime(dump_only=True)

    def _short_url(self, link):
        return short_url(link.code)


def _link_checks(record, data, before):
    reason = unsafe_reason(record.target_url)
    if reason:
        raise APIError(422, "Invalid input: target_url.", errors={"target_url": [reason]})
    campaign_id = data.get("campaign_id")
    if not Campaign.select().where(Campaign.id == campaign_id).exists():
        raise APIError(
            422, "Invalid input: campaign_id.", errors={"campaign_id": [f"No campaign {campaign_id}."]}
        )
    if not record.code:
        record.code = new_code()


def short_url(code: str, qr: bool = False) -> str:
    """The absolute short link of ``code`` on this server (on ``CRM_BASE_URL``, never ``Host``)."""
    from crm_core.plugin_api import absolute_url

    return absolute_url(f"/t/{code}") + ("?qr=1" if qr else "")


register_crud(
    blp,
    "channel_tracking.links",
    TrackingLink,
    TrackingLinkSchema,
    path="/links",
    name="links",
    methods=("list", "create", "read", "delete"),
    before_save=_link_checks,
    description="tracking links",
)


@blp.route("/links/<int:link_id>/qr.<any(png, svg):kind>")
class LinkQR(MethodView):
    @blp.response(200, content_type="image/png")
    @blp.alt_response(200, content_type="image/svg+xml", description="SVG when the path ends in .svg")
    def get(self, link_id, kind):
        """QR code of the link's short URL (``?qr=1`` so scans are recorded as ``qr_scan``)."""
        link = get_record(TrackingLink, link_id, current_actor(), "channel_tracking.links")
        data, mimetype = qr_image(short_url(link.code, qr=True), kind)
        return current_app.response_class(
            data,
            mimetype=mimetype,
            headers={"Content-Disposition": f'inline; filename="{link.code}.{kind}"'},
        )


# --- ingestion keys ----------------------------------------------------------------------------


class TrackingKeySchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    prefix = fields.String(dump_only=True)
    key = fields.String(dump_only=True, metadata={"description": "shown once, on creation"})
    created_at = UTCDateTime(dump_only=True)
    revoked_at = UTCDateTime(dump_only=True, allow_none=True)
    last_used_at = UTCDateTime(dump_only=True, allow_none=True)


def _hide_hash(record) -> dict:
    """What the audit log keeps of a key: never its hash."""
    out = record_dict(record)
    out.pop("key_hash", None)
    return out


@blp.route("/keys")
class Keys(MethodView):
    @blp.response(200, TrackingKeySchema(many=True))
    def get(self):
        """Ingestion keys (their prefixes; the keys themselves are never shown again)."""
        require(current_actor(), "channel_tracking.keys", "read")
        return list(IngestKey.select().where(IngestKey.revoked_at.is_null()).order_by(IngestKey.id))

    @blp.arguments(TrackingKeySchema)
    @blp.response(201, TrackingKeySchema)
    def post(self, data):
        """Create a write-only ingestion key; the response is the only time it is shown."""
        actor = current_actor()
        raw = ingest_keys.new_raw_key()
        # through the core's write path: permission check and audit entry (without the hash)
        row = create_record(
            "channel_tracking.keys",
            IngestKey,
            {
                "name": data["name"],
                "prefix": raw[:10],
                "key_hash": ingest_keys.hash_key(raw),
                "created_by": actor.id,
            },
            actor,
            serialize=_hide_hash,
        )
        row.key = raw  # dumped once, never stored
        return row


@blp.route("/keys/<int:key_id>")
class KeyItem(MethodView):
    @blp.response(204)
    def delete(self, key_id):
        """Delete (revoke) a key: requests with it get 401 from then on."""
        actor = current_actor()
        key = get_record(IngestKey, key_id, actor, "channel_tracking.keys", "delete")
        delete_record("channel_tracking.keys", key, actor, serialize=_hide_hash)
        ingest_keys.forget(key.id)


# --- conversions -------------------------------------------------------------------------------


class TrackingConversionInSchema(Schema):
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    customer_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=MAX_BIGINT))
    visitor_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=128))
    revenue = fields.Decimal(required=True, places=2, validate=validate.Range(min=0, max=MAX_MONEY))
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error="Use an ISO 4217 code (CNY)."))
    occurred_at = fields.AwareDateTime(default_timezone=dt.UTC)

    @validates_schema
    def _who(self, data, **kwargs):
        if not data.get("customer_id") and not data.get("visitor_id"):
            raise ValidationError("Give customer_id or visitor_id.", "customer_id")


class TrackingCreditSchema(Schema):
    touchpoint_id = fields.Integer()
    channel_group = fields.String()
    campaign_id = fields.Integer(allow_none=True)
    kol = fields.String(allow_none=True)
    credit = fields.Float()
    revenue = fields.Decimal(as_string=True, places=2)


class TrackingConversionSchema(Schema):
    id = fields.Integer(dump_only=True)
    order_ref = fields.String()
    customer_id = fields.Integer(allow_none=True)
    visitor_id = fields.String(allow_none=True)
    revenue = fields.Decimal(as_string=True, places=2)
    currency = fields.String()
    occurred_at = UTCDateTime()
    source = fields.String()
    created_at = UTCDateTime(dump_only=True)


class TrackingConversionOutSchema(TrackingConversionSchema):
    model = fields.String()
    credits = fields.List(fields.Nested(TrackingCreditSchema), attribute="credit_rows")


@blp.route("/conversions", endpoint="conversions_record")
class ConversionRecord(MethodView):
    @blp.arguments(TrackingConversionInSchema)
    @blp.response(201, TrackingConversionOutSchema)
    @blp.alt_response(200, schema=TrackingConversionOutSchema, description="This order was already recorded")
    def post(self, data):
        """Record a conversion (an order) and attribute it; repeating an order_id changes nothing."""
        actor = current_actor()
        require(actor, "channel_tracking.conversions", "create")
        if data.get("customer_id"):
            # the conversion (and the visitor it stitches) refers to a customer the actor must read
            customers.require_readable(data["customer_id"], actor)
        at = data.get("occurred_at")
        at = at.astimezone(dt.UTC).replace(tzinfo=None) if at else utcnow()
        conversion, created = record_conversion(
            data["order_id"],
            Decimal(data["revenue"]),
            at,
            customer_id=data.get("customer_id"),
            visitor_id=data.get("visitor_id"),
            currency=data.get("currency"),
            actor=actor,
        )
        return _conversion_out(conversion), 201 if created else 200


def _conversion_out(conversion: Conversion, model: str = DEFAULT_MODEL) -> Conversion:
    """The conversion with the credits of ``model``, ready for ``TrackingConversionOutSchema``."""
    conversion.model = model
    conversion.credit_rows = list(
        Credit.select().where(Credit.conversion == conversion, Credit.model == model).order_by(Credit.id)
    )
    return conversion


register_crud(
    blp,
    "channel_tracking.conversions",
    Conversion,
    TrackingConversionSchema,
    path="/conversions",
    name="conversions",
    methods=("list", "read"),
    search_fields=lambda: [Conversion.order_ref],
    description="conversions",
)


# --- sessions, reports and funnels -------------------------------------------------------------


class TrackingSessionSchema(Schema):
    started_at = UTCDateTime()
    ended_at = UTCDateTime()
    channel = fields.String()
    campaign_id = fields.Integer(allow_none=True)
    kol = fields.String(allow_none=True)
    touches = fields.Integer()


@blp.route("/visitors/<string:visitor_id>/sessions")
class VisitorSessions(MethodView):
    @blp.response(200, TrackingSessionSchema(many=True))
    def get(self, visitor_id):
        """A visitor's sessions (split after the configured inactivity), newest first."""
        from .attribution import Touch

        require(current_actor(), "channel_tracking.touchpoints", "read")
        rows = (
            Touchpoint.select(
                Touchpoint.id,
                Touchpoint.occurred_at,
                Touchpoint.channel_group,
                Touchpoint.campaign_id,
                Touchpoint.kol,
            )
            .where(Touchpoint.visitor_id == visitor_id)
            .order_by(Touchpoint.occurred_at.desc())
            .limit(5000)
            .tuples()
        )
        touches = [Touch(at=at, channel=ch, id=i, campaign_id=c, kol=k) for i, at, ch, c, k in rows]
        sessions = sessionize(touches, float(setting("SESSION_TIMEOUT_MINUTES")))
        return [
            {
                "started_at": s.started_at,
                "ended_at": s.ended_at,
                "channel": s.channel,
                "campaign_id": s.start.campaign_id,
                "kol": s.start.kol,
                "touches": len(s.touches),
            }
            for s in reversed(sessions)
        ]


class TrackingReportArgs(Schema):
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True, metadata={"description": "exclusive"})
    model = fields.String(load_default=DEFAULT_MODEL, validate=validate.OneOf(MODELS))
    lookback_days = fields.Integer(validate=validate.Range(min=1, max=365))
    half_life_days = fields.Integer(validate=validate.Range(min=1, max=365))
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"))

    @validates_schema
    def _range(self, data, **kwargs):
        if data["date_to"] <= data["date_from"]:
            raise ValidationError("Must be after date_from.", "date_to")
        if (data["date_to"] - data["date_from"]).days > 3700:
            raise ValidationError("At most about ten years.", "date_to")


class TrackingReportRowSchema(Schema):
    key = fields.String(allow_none=True)
    label = fields.String(allow_none=True)
    touchpoints = fields.Integer()
    visitors = fields.Integer()
    conversions = fields.Decimal(as_string=True)
    revenue = fields.Decimal(as_string=True, places=2)
    spend = fields.Decimal(as_string=True, places=2)
    conversion_rate = fields.Decimal(as_string=True, allow_none=True)
    roi = fields.Decimal(as_string=True, allow_none=True)
    roas = fields.Decimal(as_string=True, allow_none=True)
    cpa = fields.Decimal(as_string=True, allow_none=True)


class TrackingReportSchema(Schema):
    dimension = fields.String()
    date_from = fields.Date()
    date_to = fields.Date()
    model = fields.String()
    lookback_days = fields.Integer()
    half_life_days = fields.Integer(allow_none=True)
    session_timeout_minutes = fields.Integer()
    currency = fields.String()
    rows = fields.List(fields.Nested(TrackingReportRowSchema))
    totals = fields.Nested(TrackingReportRowSchema)


@blp.route("/reports/<any(channel, campaign, kol):dimension>")
class Report(MethodView):
    @blp.arguments(TrackingReportArgs, location="query")
    @blp.response(200, TrackingReportSchema)
    def get(self, args, dimension):
        """Touchpoints, visitors, attributed conversions and revenue, spend, conversion rate, ROI,
        ROAS and CPA per channel, campaign or KOL, under one model and window."""
        require(current_actor(), "channel_tracking.reports", "read")
        return channel_report(
            dimension,
            args["date_from"],
            args["date_to"],
            args["model"],
            args.get("currency") or setting("CURRENCY"),
            args.get("lookback_days") or int(setting("LOOKBACK_DAYS")),
            args.get("half_life_days") or int(setting("HALF_LIFE_DAYS")),
            int(setting("SESSION_TIMEOUT_MINUTES")),
        )


class TrackingFunnelArgs(Schema):
    steps = fields.String(
        required=True, metadata={"description": "comma-separated event types, e.g. live_view,follow,order"}
    )
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True, metadata={"description": "exclusive"})
    window_days = fields.Integer(validate=validate.Range(min=1, max=365))

    @validates_schema
    def _check(self, data, **kwargs):
        steps = [s.strip() for s in data["steps"].split(",") if s.strip()]
        if not 2 <= len(steps) <= 10:
            raise ValidationError("Give 2 to 10 comma-separated event types.", "steps")
        if any(len(s) > 64 for s in steps):
            raise ValidationError("Event types are at most 64 characters.", "steps")
        if data["date_to"] <= data["date_from"]:
            raise ValidationError("Must be after date_from.", "date_to")


class TrackingFunnelStepSchema(Schema):
    step = fields.Integer()
    event_type = fields.String()
    count = fields.Integer()
    step_conversion = fields.Decimal(as_string=True, allow_none=True)
    overall_conversion = fields.Decimal(as_string=True, allow_none=True)


class TrackingFunnelChannelSchema(Schema):
    channel = fields.String()
    steps = fields.List(fields.Nested(TrackingFunnelStepSchema))


class TrackingFunnelSchema(Schema):
    steps = fields.List(fields.Nested(TrackingFunnelStepSchema))
    by_channel = fields.List(fields.Nested(TrackingFunnelChannelSchema))
    date_from = fields.Date()
    date_to = fields.Date()
    window_days = fields.Integer()
    session_timeout_minutes = fields.Integer()


@blp.route("/funnels")
class Funnels(MethodView):
    @blp.arguments(TrackingFunnelArgs, location="query")
    @blp.response(200, TrackingFunnelSchema)
    def get(self, args):
        """Ordered funnel over event types within a conversion window, split by the channel of the
        session in which each person's funnel started."""
        require(current_actor(), "channel_tracking.reports", "read")
        steps = [s.strip() for s in args["steps"].split(",") if s.strip()]
        return funnel_report(
            steps,
            args["date_from"],
            args["date_to"],
            args.get("window_days") or int(setting("FUNNEL_WINDOW_DAYS") or DEFAULT_WINDOW_DAYS),
            int(setting("SESSION_TIMEOUT_MINUTES")),
        )
