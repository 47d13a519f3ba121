"""The funnel and the school's monthly metrics, over the rows the caller may read.

Definitions (as in the answers' ``definitions``):

- funnel cohort: leads (customers) created in [from, until]; ``trial_booked``: of them, those
  with a trial ever seated (booked); ``trial_attended``: with a trial attended; ``enrolled``:
  with an enrolment (``enrolled_after_trial``: of those, the ones who had attended a trial).
  Rates: booked ÷ leads, attended ÷ booked (show rate), enrolled after a trial ÷ attended (trial
  conversion), enrolled ÷ leads (overall).
- revenue (确认收入) of a month: the value of the hours consumed at its lessons (minus the
  consume and reverse entries' amounts, by the session's start: hours × the package's remaining
  value per hour).
- attendance rate of a month: present marks ÷ all marks of enrolled students at its sessions.
- renewal rate of a month (续费率): renewed ÷ (renewed + ended), where renewed students bought a
  package in the month while holding an earlier one, and ended students had a package end in the
  month (its validity ran out, or its balance reached zero) and bought none in it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import peewee as pw

from crm_core.plugin_api import Customer, scoped

from .models import Attendance, Enrolment, HourEntry, Package, Session, Trial

GROUPS = ("", "consultant", "campus")
DEFINITIONS = {
    "funnel": "cohort: leads created in [from, until]; booked, attended, enrolled: of that cohort; "
    "trial_conversion: enrolled after attending a trial / attended",
    "revenue": "value of the hours consumed in the month (hours x remaining value per hour)",
    "attendance_rate": "present marks / all marks of enrolled students at the month's sessions",
    "renewal_rate": "renewed / (renewed + ended): bought again while holding a package / a package "
    "ended (validity or balance) without a purchase in the month",
}


def _rate(part: int, whole: int) -> str | None:
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))) if whole else None


def _key(group: str, owner_id, department_id):
    return {"consultant": owner_id, "campus": department_id}.get(group, "all")


def _bounds(start: dt.date, until: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime.combine(start, dt.time()), dt.datetime.combine(until + dt.timedelta(days=1), dt.time())


def funnel(actor, start: dt.date, until: dt.date, group: str = "") -> dict:
    """The funnel of the cohort, overall or per consultant / campus."""
    lo, hi = _bounds(start, until)
    leads = list(
        scoped(
            Customer.select(Customer.id, Customer.owner_id, Customer.department_id).where(
                Customer.created_at >= lo, Customer.created_at < hi
            ),
            actor,
            "customers",
        )
    )
    ids = [c.id for c in leads]
    booked, attended, enrolled = set(), set(), set()
    if ids:
        for t in Trial.select(Trial.customer_id, Trial.booked_at, Trial.attended_at).where(
            Trial.customer_id.in_(ids)
        ):
            if t.booked_at is not None:
                booked.add(t.customer_id)
            if t.attended_at is not None:
                attended.add(t.customer_id)
        enrolled = {
            e.customer_id
            for e in Enrolment.select(Enrolment.customer_id).where(Enrolment.customer_id.in_(ids))
        }
    groups: dict = defaultdict(
        lambda: {"leads": 0, "trial_booked": 0, "trial_attended": 0, "enrolled": 0, "enrolled_after_trial": 0}
    )
    for c in leads:
        row = groups[_key(group, c.owner_id, c.department_id)]
        row["leads"] += 1
        row["trial_booked"] += c.id in booked
        row["trial_attended"] += c.id in attended
        row["enrolled"] += c.id in enrolled
        row["enrolled_after_trial"] += c.id in enrolled and c.id in attended
    out = []
    for key, row in sorted(groups.items(), key=lambda kv: str(kv[0])):
        out.append(
            {
                "group": key,
                **row,
                "booking_rate": _rate(row["trial_booked"], row["leads"]),
                "show_rate": _rate(row["trial_attended"], row["trial_booked"]),
                "trial_conversion": _rate(row["enrolled_after_trial"], row["trial_attended"]),
                "overall_conversion": _rate(row["enrolled"], row["leads"]),
            }
        )
    return {
        "from": start.isoformat(),
        "until": until.isoformat(),
        "by": group or None,
        "groups": out,
        "definitions": {"funnel": DEFINITIONS["funnel"]},
    }


def _month(value) -> str:
    return value.strftime("%Y-%m")


def _revenue(packages: dict, lo, hi, group: str, cells) -> None:
    """Consumed value per month of the lesson it paid for (the session's start; the entry's time
    for an entry of no session)."""
    when = pw.fn.COALESCE(Session.starts_at, HourEntry.at)
    entries = (
        HourEntry.select(HourEntry.package, HourEntry.amount, when.alias("when"))
        .join(Session, pw.JOIN.LEFT_OUTER, on=(Session.id == HourEntry.session_id))
        .where(
            HourEntry.kind.in_(("consume", "reverse")),
            when >= lo,
            when < hi,
            HourEntry.package.in_(list(packages)),
        )
        .objects()
    )
    for e in entries:
        p = packages[e.package_id]
        at = e.when if isinstance(e.when, dt.datetime) else dt.datetime.fromisoformat(str(e.when))
        cells[(_month(at), _key(group, p.owner_id, p.department_id))]["revenue"] -= Decimal(e.amount)


def _attendance(actor, lo, hi, group: str, cells) -> None:
    sessions = scoped(Session.select(Session.id), actor, "education.sessions").where(
        Session.starts_at >= lo, Session.starts_at < hi
    )
    marks = (
        Attendance.select(Attendance.status, Session.starts_at, Session.department_id, Enrolment.owner_id)
        .join(Session)
        .join(
            Enrolment,
            on=((Enrolment.klass == Session.klass) & (Enrolment.customer_id == Attendance.customer_id)),
        )
        .where(Attendance.session.in_(sessions), Attendance.trial.is_null())
        .objects()
    )
    for m in marks:
        cell = cells[(_month(m.starts_at), _key(group, m.owner_id, m.department_id))]
        cell["marks"] += 1
        cell["present"] += m.status == "present"


def _ends(packages: dict) -> dict[int, dt.date]:
    """The day each package ended: its balance reached zero, else its validity ran out."""
    running: dict[int, Decimal] = defaultdict(Decimal)
    ended: dict[int, dt.date] = {}
    for e in (
        HourEntry.select().where(HourEntry.package.in_(list(packages))).order_by(HourEntry.at, HourEntry.id)
    ):
        running[e.package_id] += Decimal(e.hours)
        if e.kind != "purchase" and running[e.package_id] <= 0 and e.package_id not in ended:
            ended[e.package_id] = e.at.date()
    for pid, p in packages.items():
        if pid not in ended and p.valid_until is not None:
            ended[pid] = p.valid_until
    return ended


def _renewal(packages: dict, start, until, group: str, cells) -> None:
    by_student: dict[int, list] = defaultdict(list)
    for p in packages.values():
        by_student[p.customer_id].append(p)
    ended = _ends(packages)
    for items in by_student.values():
        items.sort(key=lambda p: (p.created_at, p.id))
        bought = {_month(p.created_at) for p in items[1:] if start <= p.created_at.date() <= until}
        for p in items[1:]:
            if start <= p.created_at.date() <= until:
                cells[(_month(p.created_at), _key(group, p.owner_id, p.department_id))]["renewed_ids"].add(
                    p.customer_id
                )
        for p in items:
            day = ended.get(p.id)
            if day is not None and start <= day <= until and _month(day) not in bought:
                cells[(_month(day), _key(group, p.owner_id, p.department_id))]["ended_ids"].add(p.customer_id)


def school(actor, start: dt.date, until: dt.date, group: str = "") -> dict:
    """Revenue, attendance rate and renewal rate per month (and per consultant / campus)."""
    lo, hi = _bounds(start, until)
    packages = {p.id: p for p in scoped(Package.select(), actor, "education.packages")}
    cells: dict = defaultdict(
        lambda: {"revenue": Decimal(0), "marks": 0, "present": 0, "renewed_ids": set(), "ended_ids": set()}
    )
    if packages:
        _revenue(packages, lo, hi, group, cells)
        _renewal(packages, start, until, group, cells)
    _attendance(actor, lo, hi, group, cells)
    rows = []
    for (month, key), c in sorted(cells.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        renewed, ended = len(c["renewed_ids"]), len(c["ended_ids"] - c["renewed_ids"])
        rows.append(
            {
                "month": month,
                "group": key,
                "revenue": str(c["revenue"].quantize(Decimal("0.01"))),
                "attendance_rate": _rate(c["present"], c["marks"]),
                "marks": c["marks"],
                "renewed": renewed,
                "ended": ended,
                "renewal_rate": _rate(renewed, renewed + ended),
            }
        )
    return {
        "from": start.isoformat(),
        "until": until.isoformat(),
        "by": group or None,
        "months": rows,
        "definitions": {k: v for k, v in DEFINITIONS.items() if k != "funnel"},
    }
