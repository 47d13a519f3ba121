"""Analysis screens: touchpoints (filters, date range, daily chart), the funnel builder, the
attribution report with its model switcher and the channel / KOL ROI and ROAS tables.

The figures are those of the REST API's reports (:func:`..reports.channel_report`,
:func:`..reports.funnel_report`): one model, one window, one currency, stated on the page.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw
from flask import render_template, request, url_for
from flask_babel import gettext as _

from crm_core import plugin_api
from crm_core.plugin_api import field_rules, login_required, scoped, view

from ..attribution import MODELS
from ..classify import GROUPS
from ..funnels import DEFAULT_WINDOW_DAYS
from ..ingest import EVENT_TYPE_RE
from ..labels import EVENT_LABELS, MODEL_HELP, channel_label, event_label, model_label
from ..models import Campaign, Touchpoint
from ..reports import channel_report, funnel_report
from ..settings import setting
from . import bp
from .common import actor, can, date_range, need, report_settings

PAGE_SIZE = 50
MAX_STEPS = 6
DIMENSIONS = ("channel", "campaign", "kol")


@bp.context_processor
def _labels():
    return {"event_label": event_label, "model_label": model_label, "models": MODELS}


def _report(dimension: str, rng, settings: dict, model: str | None = None) -> dict:
    return channel_report(
        dimension,
        rng.start,
        rng.stop,
        model or settings["model"],
        settings["currency"],
        settings["lookback_days"],
        settings["half_life_days"],
        settings["timeout_minutes"],
    )


def row_label(dimension: str, row: dict) -> str:
    """What a report row is called on the page: a channel's name, a campaign's name, a KOL."""
    key = row.get("key")
    if dimension == "channel":
        return channel_label(key)
    if dimension == "campaign":
        return row.get("label") or _("No campaign") if key is not None else _("No campaign")
    return key if key is not None else _("No KOL")


def _chart(dimension: str, rows: list[dict], series: list[tuple[str, str, str]], kind="bar") -> dict:
    """Chart.js data for ``rows``: one dataset per ``(field, label, axis)``."""
    return {
        "type": kind,
        "labels": [row_label(dimension, r) for r in rows],
        "datasets": [
            {
                "label": label,
                "axis": axis,
                "data": [float(r[name]) if r[name] is not None else None for r in rows],
            }
            for name, label, axis in series
        ],
    }


def _event_types(rng=None) -> list[str]:
    """The event types seen (in the range, when given), then the common ones, as options."""
    query = Touchpoint.select(Touchpoint.event_type).distinct()
    if rng is not None:
        start = dt.datetime.combine(rng.start, dt.time())
        query = query.where(Touchpoint.occurred_at >= start - dt.timedelta(days=365))
    seen = sorted(t for (t,) in query.limit(200).tuples())
    return seen + [t for t in EVENT_LABELS if t not in seen]


@bp.route("/touchpoints")
@login_required
def touchpoints():
    """Touchpoints in a date range, filtered by channel, event type, campaign, KOL or visitor."""
    need("touchpoints")
    rng = date_range(request.args)
    start = dt.datetime.combine(rng.start, dt.time())
    stop = dt.datetime.combine(rng.stop, dt.time())
    where = [Touchpoint.occurred_at >= start, Touchpoint.occurred_at < stop]
    args = request.args
    errors = dict(rng.errors)
    if args.get("channel") in GROUPS:
        where.append(Touchpoint.channel_group == args["channel"])
    event = (args.get("event_type") or "").strip()
    if event:
        where.append(Touchpoint.event_type == event[:64])
    campaign = (args.get("campaign") or "").strip()
    if campaign:
        if campaign.isdigit() and int(campaign) < 2**31:
            where.append(Touchpoint.campaign_id == int(campaign))
        else:
            errors["campaign"] = _("Choose one of the campaigns.")
    kol = (args.get("kol") or "").strip()[:200]
    if kol:
        where.append(Touchpoint.kol == kol)
    visitor = (args.get("visitor") or "").strip()[:128]
    if visitor:
        where.append(Touchpoint.visitor_id == visitor)
    query = Touchpoint.select().where(*where)
    total = query.count()
    pages = max(1, -(-total // PAGE_SIZE))
    try:
        page = min(max(1, int(args.get("page", 1))), pages)
    except ValueError:
        page = 1
    rows = list(query.order_by(Touchpoint.occurred_at.desc(), Touchpoint.id.desc()).paginate(page, PAGE_SIZE))
    day = pw.fn.date(Touchpoint.occurred_at)
    daily = (
        Touchpoint.select(day.alias("day"), Touchpoint.channel_group, pw.fn.COUNT(Touchpoint.id))
        .where(*where)
        .group_by(day, Touchpoint.channel_group)
        .tuples()
    )
    days = [(rng.start + dt.timedelta(days=i)).isoformat() for i in range((rng.end - rng.start).days + 1)]
    per: dict[str, dict[str, int]] = {}
    for d, group, count in daily:
        per.setdefault(group, {})[str(d)[:10]] = count
    chart = {
        "type": "bar",
        "stacked": True,
        "integer": True,
        "labels": days,
        "datasets": [
            {"label": channel_label(g), "data": [per[g].get(d, 0) for d in days]} for g in sorted(per)
        ],
    }
    return render_template(
        "channel_tracking/touchpoints.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        rng=rng,
        errors=errors,
        chart_data=chart,
        groups=GROUPS,
        event_types=_event_types(rng),
        campaigns=_campaign_names(),
        customers=_customer_names({r.customer_id for r in rows if r.customer_id}),
        args=args,
        page_url=lambda n: url_for(".touchpoints", **{**args.to_dict(), "page": n}),
    )


def _campaign_names() -> dict:
    """``{id: name}`` of the campaigns the actor may read (none without ``campaigns:read``)."""
    if not can("campaigns"):
        return {}
    query = scoped(
        Campaign.select(Campaign.id, Campaign.name), actor(), "channel_tracking.campaigns", model=Campaign
    )
    return dict(query.order_by(Campaign.name).tuples())


def _customer_names(ids) -> dict:
    """``{id: name}`` of the touchpoints' customers that the actor may read, with their name
    visible to them; other customers are not named (nor linked)."""
    from ..customers import customer_model

    ids = [i for i in ids if i]
    who = actor()
    if not ids or not plugin_api.can(who, "customers", "read"):
        return {}
    readable = view(who, "customers")
    Customer = customer_model()
    query = readable.apply(Customer.select(Customer.id, Customer.name).where(Customer.id.in_(ids)), Customer)
    hidden = field_rules(who, "customers").get("name") == "hidden"
    return {cid: (None if hidden else name) for cid, name in query.tuples()}


@bp.route("/funnels")
@login_required
def funnels():
    """The funnel builder: ordered steps chosen from the event types, a window and a range."""
    need("reports")
    rng = date_range(request.args)
    errors = dict(rng.errors)
    options = _event_types(rng)
    steps = [s.strip() for s in request.args.getlist("step") if s.strip()]
    if not request.args.getlist("step"):
        seen = set(Touchpoint.select(Touchpoint.event_type).distinct().limit(200).tuples())
        preferred = [s for s in ("link_click", "page_view", "signup", "order") if (s,) in seen]
        steps = preferred if len(preferred) >= 2 else options[:3]
    bad = [s for s in steps if not EVENT_TYPE_RE.match(s)]
    if bad:
        errors["step"] = _("Unknown event type: %(name)s.", name=bad[0][:64])
        steps = [s for s in steps if s not in bad]
    if len(steps) > MAX_STEPS:
        errors["step"] = _("At most %(num)s steps.", num=MAX_STEPS)
        steps = steps[:MAX_STEPS]
    default_window = int(setting("FUNNEL_WINDOW_DAYS") or DEFAULT_WINDOW_DAYS)
    window = default_window
    if request.args.get("window"):
        try:
            window = int(request.args["window"])
            if not 1 <= window <= 365:
                raise ValueError
        except ValueError:
            errors["window"] = _("The window is a whole number of days from 1 to 365.")
            window = default_window
    report = None
    if len(steps) >= 2:
        report = funnel_report(steps, rng.start, rng.stop, window, int(setting("SESSION_TIMEOUT_MINUTES")))
    elif "step" not in errors:
        errors["step"] = _("Choose at least two steps.")
    chart = None
    if report:
        chart = {
            "type": "bar",
            "labels": [event_label(s["event_type"]) for s in report["steps"]],
            "integer": True,
            "datasets": [{"label": _("People"), "data": [s["count"] for s in report["steps"]]}],
        }
    return render_template(
        "channel_tracking/funnels.html",
        rng=rng,
        errors=errors,
        steps=steps,
        slots=max(MAX_STEPS, len(steps)),
        options=options,
        window=window,
        report=report,
        chart_data=chart,
    )


def _dimension() -> str:
    dimension = request.args.get("dimension") or "channel"
    return dimension if dimension in DIMENSIONS else "channel"


@bp.route("/attribution")
@login_required
def attribution():
    """Attributed conversions and revenue by channel, campaign or KOL under the chosen model,
    and the same conversions under every model side by side."""
    need("reports")
    rng = date_range(request.args)
    settings, errors = report_settings(request.args)
    dimension = _dimension()
    report = _report(dimension, rng, settings)
    chart = _chart(
        dimension,
        report["rows"],
        [("conversions", _("Conversions"), "y"), ("revenue", _("Revenue"), "y1")],
    )
    compare = {
        m: {r["key"]: r["conversions"] for r in _report(dimension, rng, settings, m)["rows"]} for m in MODELS
    }
    keys = [r["key"] for r in report["rows"]]
    for m in MODELS:
        keys += [k for k in compare[m] if k not in keys]
    labels = {r["key"]: row_label(dimension, r) for r in report["rows"]}
    return render_template(
        "channel_tracking/attribution.html",
        rng=rng,
        errors={**rng.errors, **errors},
        settings=settings,
        dimension=dimension,
        dimensions=DIMENSIONS,
        report=report,
        chart_data=chart,
        compare=compare,
        compare_keys=keys,
        compare_labels=labels,
        model_help=MODEL_HELP,
        row_label=row_label,
    )


@bp.route("/roi")
@login_required
def roi():
    """ROI, ROAS and CPA of channels and KOLs (spend against attributed revenue)."""
    need("reports")
    rng = date_range(request.args)
    settings, errors = report_settings(request.args)
    sections = []
    for dimension, title in (("channel", _("Channels")), ("kol", _("KOLs"))):
        report = _report(dimension, rng, settings)
        rows = [r for r in report["rows"] if dimension != "kol" or r["key"] is not None]
        sections.append(
            {
                "dimension": dimension,
                "title": title,
                "report": report,
                "rows": rows,
                "money_chart": _chart(
                    dimension, rows, [("spend", _("Spend"), "y"), ("revenue", _("Revenue"), "y")]
                ),
                "roi_chart": {
                    **_chart(dimension, rows, [("roi", _("ROI"), "y")]),
                    "percent": True,
                },
            }
        )
    return render_template(
        "channel_tracking/roi.html",
        rng=rng,
        errors={**rng.errors, **errors},
        settings=settings,
        sections=sections,
        row_label=row_label,
    )
