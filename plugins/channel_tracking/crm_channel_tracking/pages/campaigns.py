"""Campaign screens: the list with budget, spend, conversions and ROI; the detail page with its
KPIs, daily spend, tracking links and their QR codes; the create / edit forms; the QR images.

The QR images are served here, on a workbench path, because the REST API's
``/api/v1/channel-tracking/links/<id>/qr.png`` takes bearer tokens only (the core never lets a
browser session authorise an API call, which would need CSRF protection there): an ``<img>`` on
a page carries the session cookie, not a token, so it got 401. Here the session is the
credential, with the same permission check (``channel_tracking.links:read``); anonymous visitors
are sent to the login page.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import peewee as pw
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from crm_core.plugin_api import APIError, base_url, delete_record, get_record, login_required, scoped

from ..classify import GROUPS
from ..labels import channel_label
from ..links import qr_image
from ..models import Campaign, Channel, Spend, TrackingLink
from ..reports import channel_report
from ..settings import setting
from ..spend import set_spend, total_spend
from . import bp
from .common import actor, can, date_range, need, report_settings, tabs
from .format import formatters
from .forms import FormErrors, save_campaign, save_link, spend_values

PAGE_SIZE = 50


@bp.context_processor
def _helpers():
    return {"ct_tabs": tabs, "channel_label": channel_label, **formatters()}


@bp.route("/")
@login_required
def index():
    """The section's first screen the user may open."""
    for tab in tabs():
        return redirect(tab["url"])
    raise APIError(403, _("You do not have permission to do this."))


def _campaign(campaign_id: int, action: str = "read") -> Campaign:
    try:
        return get_record(Campaign, campaign_id, actor(), "channel_tracking.campaigns", action)
    except APIError as exc:
        if exc.code == 404:
            raise APIError(404, _("No such campaign.")) from None
        raise APIError(exc.code, _("You do not have permission to do this.")) from None


def _report_rows(rng, settings: dict) -> dict:
    """The campaign report's rows by campaign id (empty without ``reports:read``)."""
    if not can("reports"):
        return {}
    report = channel_report(
        "campaign",
        rng.start,
        rng.stop,
        settings["model"],
        settings["currency"],
        settings["lookback_days"],
        settings["half_life_days"],
        settings["timeout_minutes"],
    )
    return {row["key"]: row for row in report["rows"] if row["key"] is not None}


@bp.route("/campaigns")
@login_required
def campaigns():
    """Campaigns with budget, spend, attributed conversions, revenue and ROI over a date range."""
    need("campaigns")
    rng = date_range(request.args)
    settings, errors = report_settings(request.args)
    query = Campaign.select(Campaign, Channel).join(
        Channel, pw.JOIN.LEFT_OUTER, on=(Campaign.channel == Channel.id)
    )
    query = scoped(query, actor(), "channel_tracking.campaigns", model=Campaign)
    q = (request.args.get("q") or "").strip()[:200]
    if q:
        query = query.where(
            Campaign.name.contains(q) | Campaign.utm_campaign.contains(q) | Campaign.kol.contains(q)
        )
    group = request.args.get("group") or ""
    if group in GROUPS:
        query = query.where(Channel.group == group)
    total = query.count()
    pages = max(1, -(-total // PAGE_SIZE))
    try:
        page = min(max(1, int(request.args.get("page", 1))), pages)
    except ValueError:
        page = 1
    rows = list(query.order_by(Campaign.id.desc()).paginate(page, PAGE_SIZE))
    spend = total_spend([c.id for c in rows], rng.start, rng.stop)
    report = _report_rows(rng, settings)
    return render_template(
        "channel_tracking/campaigns.html",
        campaigns=rows,
        spend=spend,
        report=report,
        show_metrics=can("reports"),
        rng=rng,
        errors={**rng.errors, **errors},
        settings=settings,
        q=q,
        group=group,
        groups=GROUPS,
        page=page,
        pages=pages,
        total=total,
        can_create=can("campaigns", "create"),
    )


def _default_range(campaign: Campaign):
    """The campaign's own dates (up to today) when it has them, else the last 30 days."""
    today = dt.datetime.now(dt.UTC).date()
    end = min(campaign.ends_on, today) if campaign.ends_on else today
    start = campaign.starts_on if campaign.starts_on and campaign.starts_on <= end else None
    return start, end


@bp.route("/campaigns/<int:campaign_id>")
@login_required
def campaign(campaign_id):
    """One campaign: KPIs over a date range, daily spend, its links with QR codes."""
    record = _campaign(campaign_id)
    start, end = _default_range(record)
    rng = date_range(request.args, start, end)
    settings, errors = report_settings(request.args)
    row = _report_rows(rng, settings).get(str(record.id))
    spent_all = total_spend([record.id]).get(record.id, Decimal(0))
    spent = total_spend([record.id], rng.start, rng.stop).get(record.id, Decimal(0))
    days = list(
        Spend.select(Spend.day, Spend.amount)
        .where(Spend.campaign == record, Spend.day >= rng.start, Spend.day < rng.stop)
        .order_by(Spend.day)
        .tuples()
    )
    links = []
    if can("links"):
        links = list(
            scoped(
                TrackingLink.select().where(TrackingLink.campaign == record),
                actor(),
                "channel_tracking.links",
                model=TrackingLink,
            ).order_by(TrackingLink.id.desc())
        )
    channel = Channel.get_or_none(Channel.id == record.channel_id) if record.channel_id else None
    return render_template(
        "channel_tracking/campaign.html",
        campaign=record,
        channel=channel,
        rng=rng,
        errors={**rng.errors, **errors},
        settings=settings,
        row=row,
        show_metrics=can("reports"),
        spent=spent,
        spent_all=spent_all,
        remaining=(record.budget - spent_all) if record.budget is not None else None,
        spend_chart={
            "labels": [d.isoformat() for d, _amount in days],
            "amounts": [float(a) for _day, a in days],
        },
        links=links,
        short_url=_short,
        can_update=can("campaigns", "update", record),
        can_delete=can("campaigns", "delete", record),
        can_link=can("links", "create"),
        can_unlink=can("links", "delete"),
        can_touchpoints=can("touchpoints"),
        default_target=base_url() + "/",
        currency=record.currency or setting("CURRENCY"),
    )


def _short(link: TrackingLink, qr: bool = False) -> str:
    from ..api import short_url

    return short_url(link.code, qr=qr)


def _channels():
    if not can("channels"):
        return []
    return list(
        scoped(Channel.select(), actor(), "channel_tracking.channels", model=Channel).order_by(Channel.name)
    )


def _form_page(record, values, errors, status=200):
    return (
        render_template(
            "channel_tracking/campaign_form.html",
            campaign=record,
            values=values,
            errors=errors,
            channels=_channels(),
            groups=GROUPS,
            can_new_channel=can("channels", "create"),
            default_currency=setting("CURRENCY"),
        ),
        status,
    )


def _values_of(record: Campaign) -> dict:
    out = {name: getattr(record, name) for name in ("name", "utm_source", "utm_medium", "utm_campaign")}
    out.update({name: getattr(record, name) or "" for name in ("utm_term", "utm_content", "kol", "currency")})
    out["budget"] = "" if record.budget is None else str(record.budget)
    out["starts_on"] = record.starts_on.isoformat() if record.starts_on else ""
    out["ends_on"] = record.ends_on.isoformat() if record.ends_on else ""
    out["channel_id"] = str(record.channel_id or "")
    return out


@bp.route("/campaigns/new", methods=["GET", "POST"])
@login_required
def campaign_new():
    """Create a campaign (with a new channel, optionally)."""
    need("campaigns", "create")
    if request.method == "POST":
        try:
            record = save_campaign(request.form, None, actor(), can("channels", "create"))
        except FormErrors as exc:
            return _form_page(None, request.form, exc.errors, 422)
        flash(_("Campaign %(name)s created.", name=record.name), "success")
        return redirect(url_for(".campaign", campaign_id=record.id))
    return _form_page(None, {"currency": setting("CURRENCY")}, {})


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@login_required
def campaign_edit(campaign_id):
    """Edit a campaign."""
    record = _campaign(campaign_id, "update")
    if request.method == "POST":
        try:
            save_campaign(request.form, record, actor(), can("channels", "create"))
        except FormErrors as exc:
            return _form_page(record, request.form, exc.errors, 422)
        flash(_("Campaign %(name)s saved.", name=record.name), "success")
        return redirect(url_for(".campaign", campaign_id=record.id))
    return _form_page(record, _values_of(record), {})


@bp.route("/campaigns/<int:campaign_id>/delete", methods=["POST"])
@login_required
def campaign_delete(campaign_id):
    """Delete a campaign (its links and spend go with it)."""
    record = _campaign(campaign_id, "delete")
    delete_record("channel_tracking.campaigns", record, actor())
    flash(_("Campaign %(name)s deleted.", name=record.name), "success")
    return redirect(url_for(".campaigns"))


@bp.route("/campaigns/<int:campaign_id>/spend", methods=["POST"])
@login_required
def campaign_spend(campaign_id):
    """Set the spend of one day, or of each day of a range."""
    record = _campaign(campaign_id, "update")
    try:
        days = spend_values(request.form)
    except FormErrors as exc:
        flash(_("The spend was not saved: %(reasons)s", reasons=" ".join(exc.errors.values())), "error")
        return redirect(url_for(".campaign", campaign_id=record.id, **_range_args()) + "#spend")
    set_spend(record, days, actor())
    flash(_("Spend saved for %(num)s day(s).", num=len(days)), "success")
    return redirect(url_for(".campaign", campaign_id=record.id, **_range_args()) + "#spend")


def _range_args() -> dict:
    return {k: request.form[k] for k in ("from", "to", "model") if request.form.get(k)}


@bp.route("/campaigns/<int:campaign_id>/links", methods=["POST"])
@login_required
def link_create(campaign_id):
    """Create a tracking link (and its QR code) for the campaign."""
    record = _campaign(campaign_id)
    need("links", "create")
    try:
        link = save_link(request.form, record, actor())
    except FormErrors as exc:
        flash(_("The link was not created: %(reasons)s", reasons=" ".join(exc.errors.values())), "error")
        return redirect(url_for(".campaign", campaign_id=record.id, **_range_args()) + "#links")
    flash(_("Link %(url)s created.", url=_short(link)), "success")
    return redirect(url_for(".campaign", campaign_id=record.id, **_range_args()) + "#links")


def _link(link_id: int, action: str = "read") -> TrackingLink:
    try:
        return get_record(TrackingLink, link_id, actor(), "channel_tracking.links", action)
    except APIError as exc:
        if exc.code == 404:
            raise APIError(404, _("No such link.")) from None
        raise APIError(exc.code, _("You do not have permission to do this.")) from None


@bp.route("/links/<int:link_id>/delete", methods=["POST"])
@login_required
def link_delete(link_id):
    """Delete a tracking link (its short URL and QR code stop working)."""
    link = _link(link_id, "delete")
    campaign_id = link.campaign_id
    delete_record("channel_tracking.links", link, actor())
    flash(_("Link deleted."), "success")
    return redirect(url_for(".campaign", campaign_id=campaign_id) + "#links")


@bp.route("/links/<int:link_id>/qr.<any(png, svg):kind>")
@login_required
def link_qr(link_id, kind):
    """The QR code of a link's short URL for a signed-in user who may read the link; with
    ``?download=1`` as a file to save."""
    link = _link(link_id)
    data, mimetype = qr_image(_short(link, qr=True), kind)
    disposition = "attachment" if request.args.get("download") == "1" else "inline"
    return current_app.response_class(
        data,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'{disposition}; filename="qr-{link.code}.{kind}"',
            "Cache-Control": "private, no-store",
        },
    )
