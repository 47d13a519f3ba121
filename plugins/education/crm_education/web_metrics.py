"""The funnel and the school's metrics as charts: ``/education/metrics``.

The same numbers as ``GET /metrics/funnel`` and ``GET /metrics/school`` (:mod:`crm_education.
metrics`, over the rows the viewer may read), for a period and split by consultant or campus:
the funnel lead → trial booked → attended → enrolled as grouped bars, and per month the
consumed-hours revenue, the attendance rate and the renewal rate as columns (server-rendered
SVG, :mod:`crm_education.charts`), each with its table and the definitions below.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import render_template, request
from flask_babel import gettext as _

from crm_core.plugin_api import department_names, login_required, require, user_names, utcnow, web_actor

from . import charts, metrics
from .web import blp, local


def _period() -> tuple[dt.date, dt.date, str, dict]:
    """``from``/``until``/``by`` of the query string; defaults: the last six months, no split."""
    errors = {}
    today = local(utcnow()).date()
    until, start = today, (today.replace(day=1) - dt.timedelta(days=150)).replace(day=1)
    try:
        if request.args.get("until"):
            until = dt.date.fromisoformat(request.args["until"])
        if request.args.get("from"):
            start = dt.date.fromisoformat(request.args["from"])
    except ValueError:
        errors["from"] = _("Dates are YYYY-MM-DD.")
    if until < start:
        errors["until"] = _("The period ends before it starts.")
        start = until
    group = request.args.get("by", "")
    if group not in metrics.GROUPS:
        group = ""
    return start, until, group, errors


def _labels(group: str, keys) -> dict:
    keys = [k for k in keys if k not in (None, "all")]
    if group == "consultant":
        found = user_names(keys)
    elif group == "campus":
        found = department_names(keys)
    else:
        found = {}
    out = {"all": _("Everyone")}
    out[None] = _("No consultant (pool)") if group == "consultant" else _("No campus")
    out.update(found)
    return out


def percent(value) -> str:
    """A rate (``"0.4250"``, a float) as a percentage."""
    return "—" if value is None else f"{Decimal(str(value)) * 100:.0f}%"


def money(value) -> str:
    """A money amount without decimals (the chart's labels)."""
    return f"{Decimal(str(value)):,.0f}"


@blp.route("/metrics")
@login_required
def metrics_page():
    """The funnel and the monthly metrics, as charts and tables."""
    actor = web_actor()
    require(actor, "education.metrics", "read")
    start, until, group, errors = _period()
    funnel = metrics.funnel(actor, start, until, group)
    school = metrics.school(actor, start, until, group)
    keys = {g["group"] for g in funnel["groups"]} | {m["group"] for m in school["months"]}
    labels = _labels(group, keys)
    stages = [_("Leads"), _("Trial booked"), _("Trial attended"), _("Enrolled")]
    funnel_chart = charts.hbars(
        "funnel-chart",
        _("Funnel"),
        [
            (
                labels.get(g["group"], str(g["group"])),
                [g["leads"], g["trial_booked"], g["trial_attended"], g["enrolled"]],
            )
            for g in funnel["groups"]
        ],
        stages,
    )
    months = sorted({m["month"] for m in school["months"]})
    order = sorted({m["group"] for m in school["months"]}, key=str)
    cell = {(m["month"], m["group"]): m for m in school["months"]}

    def series(field):
        return [
            (labels.get(key, str(key)), [cell.get((month, key), {}).get(field) for month in months])
            for key in order
        ]

    monthly = {
        "revenue": charts.columns("revenue-chart", _("Revenue"), months, series("revenue"), money),
        "attendance": charts.columns(
            "attendance-chart", _("Attendance rate"), months, series("attendance_rate"), percent, peak=1
        ),
        "renewal": charts.columns(
            "renewal-chart", _("Renewal rate"), months, series("renewal_rate"), percent, peak=1
        ),
    }
    return render_template(
        "education/metrics.html",
        start=start,
        until=until,
        group=group,
        errors=errors,
        funnel=funnel,
        school=school,
        labels=labels,
        funnel_chart=funnel_chart,
        monthly=monthly,
        percent=percent,
    )
