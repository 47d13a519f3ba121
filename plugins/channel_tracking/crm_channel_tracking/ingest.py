"""Touchpoint ingestion: validate events one by one, classify, stitch identities, store in bulk.

Validation is hand-written rather than a marshmallow schema per event because a batch of 1,000
events must validate in a few milliseconds; each event is judged on its own, so the valid ones of
a batch are stored while the invalid ones come back with their index and per-field reasons.

Storage is one statement per batch: PostgreSQL ``COPY ... FROM STDIN`` (the fastest way in), a
multi-row INSERT on SQLite. Identity stitching and campaign lookups cost one query each per batch.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import operator
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

import peewee as pw

from crm_core.plugin_api import database, is_postgres, utcnow

from .classify import CLICK_ID_PARAMS, classify_cached, host_of
from .models import Campaign, Channel, Conversion, Identity, Touchpoint
from .settings import redirect_domains, setting

MAX_BATCH = 1000
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
KNOWN_FIELDS = frozenset(
    ("visitor_id", "customer_id", "event_type", "referrer", "url", "timestamp", "click_ids", "properties")
    + UTM_FIELDS
    + CLICK_ID_PARAMS
)
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
MAX_FUTURE = dt.timedelta(hours=24)
STITCHING_EVENTS = frozenset(("signup", "login", "identify"))

COLUMNS = (
    "subject",
    "visitor_id",
    "customer_id",
    "event_type",
    "occurred_at",
    "received_at",
    "channel_group",
    "campaign_id",
    "link_id",
    "kol",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "click_ids",
    "referrer",
    "url",
)


def _text(value, name: str, limit: int, errors: dict, required: bool = False):
    if value is None or value == "":
        if required:
            errors[name] = ["Missing data for required field."]
        return None
    if not isinstance(value, str):
        errors[name] = ["Not a valid string."]
        return None
    if len(value) > limit:
        errors[name] = [f"Longer than maximum length {limit}."]
        return None
    if "\x00" in value:  # PostgreSQL text cannot hold NUL: refuse it here, not fail the batch
        errors[name] = ["Must not contain NUL characters."]
        return None
    return value


_BAD_STAMP = "Not a valid timestamp: use ISO 8601 or epoch milliseconds."
_FUTURE = "More than 24 hours in the future."
_OWN_REASONS = (_BAD_STAMP, _FUTURE)


def parse_timestamp(value, now: dt.datetime) -> dt.datetime:
    """A client timestamp (ISO 8601, offset or ``Z``, naive = UTC; or epoch milliseconds) as naive
    UTC. Raises ValueError with the reason."""
    if isinstance(value, bool):
        raise ValueError("Not a valid timestamp.")
    if isinstance(value, int | float):
        at = dt.datetime.fromtimestamp(value / 1000.0, dt.UTC).replace(tzinfo=None)
    elif isinstance(value, str) and 10 <= len(value) <= 40:
        at = dt.datetime.fromisoformat(value)
        if at.tzinfo is not None:
            at = at.astimezone(dt.UTC).replace(tzinfo=None)
    else:
        raise ValueError(_BAD_STAMP)
    if at > now + MAX_FUTURE:
        raise ValueError(_FUTURE)
    return at


def validate_event(raw, now: dt.datetime, oldest: dt.datetime) -> tuple[dict | None, dict]:
    """Check one event; returns ``(row, {})`` or ``(None, {field: [messages]})``."""
    if not isinstance(raw, dict):
        return None, {"_schema": ["An event must be a JSON object."]}
    errors: dict = {}
    unknown = [k for k in raw if k not in KNOWN_FIELDS]
    for key in unknown[:10]:
        errors[str(key)[:64]] = ["Unknown field."]
    visitor = _text(raw.get("visitor_id"), "visitor_id", 128, errors, required=True)
    event_type = _text(raw.get("event_type"), "event_type", 64, errors, required=True)
    if event_type and not EVENT_TYPE_RE.match(event_type):
        errors["event_type"] = ["Use lower-case letters, digits and _ . : - (page_view, live_view, order)."]
    customer = raw.get("customer_id")
    if customer is not None and (
        isinstance(customer, bool) or not isinstance(customer, int) or not 0 < customer < 2**63
    ):
        errors["customer_id"] = ["Not a valid positive integer."]
    row = {"visitor_id": visitor, "event_type": event_type, "customer_id": customer}
    for name in UTM_FIELDS:
        row[name] = _text(raw.get(name), name, 200, errors)
    row["referrer"] = _text(raw.get("referrer"), "referrer", 2000, errors)
    row["url"] = _text(raw.get("url"), "url", 2000, errors)
    clicks = {}
    nested = raw.get("click_ids")
    if nested is not None:
        if not isinstance(nested, dict) or len(nested) > 20:
            errors["click_ids"] = ["Must be an object of at most 20 click ids."]
        else:
            for key, value in nested.items():
                if not isinstance(value, str) or len(value) > 500 or len(key) > 64 or "\x00" in key + value:
                    errors["click_ids"] = [f"Click id {str(key)[:64]!r} must be a string of at most 500."]
                    break
                clicks[key] = value
    for name in CLICK_ID_PARAMS:
        value = raw.get(name)
        if value is not None:
            clicks[name] = _text(value, name, 500, errors)
    if "properties" in raw and not isinstance(raw["properties"], dict):
        errors["properties"] = ["Must be an object."]
    stamp = raw.get("timestamp")
    if stamp is None:
        at = now
    else:
        try:
            at = parse_timestamp(stamp, now)
            if at < oldest:
                errors["timestamp"] = ["Older than the retention period."]
        except (ValueError, OverflowError, OSError) as exc:
            reason = str(exc)
            errors["timestamp"] = [reason if reason in _OWN_REASONS else "Not a valid timestamp."]
    if errors:
        return None, errors
    if row["url"] and "?" in row["url"]:
        _fill_from_url(row, clicks)
    row["occurred_at"] = at
    row["click_ids"] = clicks
    return row, {}


def _fill_from_url(row: dict, clicks: dict) -> None:
    """UTM values and click ids found in the page URL, where the event did not give them."""
    try:
        query = parse_qsl(urlsplit(row["url"]).query)
    except ValueError:
        return
    for key, value in query:
        key = key.lower()
        if key in UTM_FIELDS and not row.get(key):
            row[key] = value[:200]
        elif key in CLICK_ID_PARAMS and key not in clicks:
            clicks[key] = value[:500]


def validate_batch(events: Iterable, now: dt.datetime | None = None) -> tuple[list[dict], list[dict]]:
    """Validate every event: ``(rows, rejected)`` with rejected ``[{"index", "errors"}]``."""
    now = now or utcnow()
    oldest = now - dt.timedelta(days=31 * int(setting("RETENTION_MONTHS")))
    rows, rejected = [], []
    for index, raw in enumerate(events):
        row, errors = validate_event(raw, now, oldest)
        if errors:
            rejected.append({"index": index, "errors": errors})
        else:
            rows.append(row)
    return rows, rejected


def stitch(visitor_id: str, customer_id: int) -> bool:
    """Attach a visitor's anonymous touchpoints and conversions to a customer (signup or login).

    Returns True when the visitor was not yet known. A visitor keeps its first customer: a shared
    device logging into a second account does not move history between customers.
    """
    existing = Identity.get_or_none(Identity.visitor_id == visitor_id)
    if existing is not None:
        return False
    Identity.insert(visitor_id=visitor_id, customer_id=customer_id).on_conflict_ignore().execute()
    subject = f"c:{customer_id}"
    Touchpoint.update(subject=subject, customer_id=customer_id).where(
        Touchpoint.subject == f"v:{visitor_id}"
    ).execute()
    Conversion.update(subject=subject, customer_id=customer_id).where(
        Conversion.subject == f"v:{visitor_id}"
    ).execute()
    return True


def _identities(rows: list[dict]) -> dict[str, int]:
    """visitor id -> customer id for the batch: known identities, then pairs the batch reveals."""
    visitors = sorted({r["visitor_id"] for r in rows})
    known: dict[str, int] = {}
    if is_postgres(database.obj):
        # one array parameter instead of a thousand bound values: cheaper to build and to plan
        cursor = database.execute_sql(
            f"SELECT visitor_id, customer_id FROM {Identity._meta.table_name} WHERE visitor_id = ANY(%s)",
            (visitors,),
        )
        known.update(cursor.fetchall())
    else:
        for chunk in _chunks(visitors, 500):
            known.update(
                Identity.select(Identity.visitor_id, Identity.customer_id)
                .where(Identity.visitor_id.in_(chunk))
                .tuples()
            )
    for r in rows:
        if r["customer_id"] and r["visitor_id"] not in known:
            stitch(r["visitor_id"], r["customer_id"])
            known[r["visitor_id"]] = r["customer_id"]
    return known


def _campaigns(rows: list[dict]) -> dict[str, tuple]:
    names = {r["utm_campaign"] for r in rows if r.get("utm_campaign")}
    if not names:
        return {}
    query = (
        Campaign.select(Campaign.utm_campaign, Campaign.id, Channel.group, Campaign.kol)
        .join(Channel, join_type=pw.JOIN.LEFT_OUTER, on=(Campaign.channel == Channel.id))
        .where(Campaign.utm_campaign.in_(sorted(names)))
        .tuples()
    )
    return {name: (cid, group, kol) for name, cid, group, kol in query}


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def prepare(rows: list[dict], received_at: dt.datetime | None = None) -> list[dict]:
    """Complete validated rows: subject (after identity stitching), campaign, KOL, channel group."""
    received_at = received_at or utcnow()
    identities = _identities(rows)
    campaigns = _campaigns(rows)
    own_hosts = redirect_domains()
    for r in rows:
        customer = r["customer_id"] or identities.get(r["visitor_id"])
        r["customer_id"] = customer
        r["subject"] = f"c:{customer}" if customer else f"v:{r['visitor_id']}"
        campaign = campaigns.get(r.get("utm_campaign") or "")
        group = None
        if campaign:
            r["campaign_id"], group, campaign_kol = campaign
            r["kol"] = r.get("kol") or campaign_kol
        else:
            r.setdefault("campaign_id", None)
            r.setdefault("kol", None)
        r["channel_group"] = group or classify_cached(
            r.get("utm_source"),
            r.get("utm_medium"),
            host_of(r.get("referrer")),
            frozenset(k for k, v in r["click_ids"].items() if v),
            own_hosts,
        )
        r.setdefault("link_id", None)
        r["received_at"] = received_at
        r["click_ids"] = json.dumps(r["click_ids"], ensure_ascii=False) if r["click_ids"] else None
    return rows


def store(rows: list[dict]) -> int:
    """Insert prepared rows in one statement (COPY on PostgreSQL); returns how many."""
    if not rows:
        return 0
    if is_postgres(database.obj):
        buffer = io.StringIO()
        # csv writes None as an unquoted empty field (NULL for COPY) and datetimes via str(),
        # which is the ISO form PostgreSQL reads; prepared rows carry every column
        csv.writer(buffer).writerows(map(_row_values, rows))
        buffer.seek(0)
        cursor = database.connection().cursor()
        cursor.copy_expert(
            f"COPY {Touchpoint._meta.table_name} ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer
        )
    else:
        for chunk in _chunks(rows, 500):
            Touchpoint.insert_many([{c: r.get(c) for c in COLUMNS} for r in chunk]).execute()
    return len(rows)


_row_values = operator.itemgetter(*COLUMNS)


def ingest(events: list) -> tuple[int, list[dict], list[dict]]:
    """Validate, prepare and store ``events`` in the caller's transaction:
    ``(stored count, rejected, stored rows)``."""
    rows, rejected = validate_batch(events)
    prepare(rows)
    store(rows)
    return len(rows), rejected, rows
