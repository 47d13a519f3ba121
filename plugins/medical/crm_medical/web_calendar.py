"""The appointments calendar (``/medical/appointments/``): one week of a doctor's appointments,
day by day in the viewer's time zone, with a department filter and a doctor picker, and a form
to book a slot.

What is shown is what the API would answer: the appointments through ``scoped`` (a doctor or the
front desk: their department; a head: the department tree), the patients' names through the
customers' field rules. A doctor sees their own calendar by default. A booking goes through the
write path with the collection's own ``before_save`` (the clash rule: 409 and the form again).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from flask import abort, redirect, render_template, request, url_for
from flask_babel import format_date, format_time, to_user_timezone, to_utc
from flask_babel import gettext as _
from marshmallow import ValidationError

from crm_core.plugin_api import (
    APIError,
    Customer,
    can,
    create_record,
    department_names,
    department_subtree,
    login_required,
    mask,
    scoped,
    user_names,
    users_with_role,
    view,
    web_actor,
)

from .api import appointments_crud
from .models import APPOINTMENTS, FREE_STATUSES, Appointment
from .schemas import MedicalAppointmentSchema
from .web import blp

DOCTOR_ROLE = "medical_doctor"
HEAD_ROLE = "medical_department_head"
DURATIONS = (15, 20, 30, 45, 60, 90)
PATIENT_PICKER = SimpleNamespace(name="customer_id", reference="customers", label="", depends_on=None)


def _int(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def week_of(text: str | None) -> dt.date:
    """The Monday of the week holding the day ``text`` (ISO), of today in the viewer's zone when
    missing or unreadable."""
    try:
        day = dt.date.fromisoformat(text) if text else None
    except ValueError:
        day = None
    day = day or to_user_timezone(dt.datetime.now(dt.UTC)).date()
    return day - dt.timedelta(days=day.weekday())


def _utc(local: dt.datetime) -> dt.datetime:
    """A naive time in the viewer's zone as naive UTC (how the database keeps times)."""
    return to_utc(local).replace(tzinfo=None)


def departments_for(actor) -> list[int]:
    """The departments whose calendars ``actor`` may pick: their own, the ones below it for a
    department-tree scope, and those of any appointment they can read."""
    scope = view(actor, APPOINTMENTS).scope
    own = getattr(actor, "department_id", None)
    ids = {own} if own is not None else set()
    if own is not None and scope == "department_tree":
        subtree = department_subtree(own)
        if subtree is not None:
            ids |= {row[0] for row in subtree.tuples()}
    seen = scoped(Appointment.select(Appointment.department_id).distinct(), actor, APPOINTMENTS)
    ids |= {row[0] for row in seen.tuples() if row[0] is not None}
    return sorted(ids)


def doctors_in(department_id) -> list[int]:
    """The doctors (and department heads, who also see patients) of ``department_id``."""
    if department_id is None:
        return []
    return sorted(
        set(users_with_role(DOCTOR_ROLE, department_id)) | set(users_with_role(HEAD_ROLE, department_id))
    )


def _calendar(errors=None, form=None, message=None, status=200):
    actor = web_actor()
    if not view(actor, APPOINTMENTS).allowed:
        abort(403)
    args = request.args
    departments = departments_for(actor)
    department = _int(args.get("department"))
    if department not in departments:
        department = getattr(actor, "department_id", None)
    doctors = doctors_in(department)
    doctor = actor.id if actor.id in doctors else None  # a doctor sees their own by default
    if "doctor" in args:
        doctor = _int(args.get("doctor"))  # empty: every doctor of the department
    monday = week_of(args.get("week"))
    start, end = (
        _utc(dt.datetime.combine(monday, dt.time())),
        _utc(dt.datetime.combine(monday + dt.timedelta(days=7), dt.time())),
    )
    query = scoped(Appointment.select(), actor, APPOINTMENTS).where(
        Appointment.start_at < end, Appointment.end_at > start
    )
    if department is not None:
        query = query.where(Appointment.department_id == department)
    if doctor is not None:
        query = query.where(Appointment.doctor_id == doctor)
    rows = list(query.order_by(Appointment.start_at).limit(500))
    booked = appointments_crud.dump(rows, actor)
    names = _patient_names(actor, {a["customer_id"] for a in booked})
    people = user_names(set(doctors) | {a["doctor_id"] for a in booked} | ({doctor} if doctor else set()))
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    by_day = {day: [] for day in days}
    for item, row in zip(booked, rows, strict=True):
        local_start = to_user_timezone(row.start_at.replace(tzinfo=dt.UTC))
        local_end = to_user_timezone(row.end_at.replace(tzinfo=dt.UTC))
        if local_start.date() in by_day:
            by_day[local_start.date()].append(
                {
                    **item,
                    "from": format_time(local_start, "HH:mm"),
                    "to": format_time(local_end, "HH:mm"),
                    "patient": names.get(item["customer_id"]) or _("Patient %(id)s", id=item["customer_id"]),
                    "doctor": people.get(item["doctor_id"]) or _("User %(id)s", id=item["doctor_id"]),
                    "free": item["status"] in FREE_STATUSES,
                }
            )
    return (
        render_template(
            "medical/appointments.html",
            days=[(day, format_date(day, "EEE M/d"), by_day[day]) for day in days],
            today=to_user_timezone(dt.datetime.now(dt.UTC)).date(),
            week=monday,
            previous=monday - dt.timedelta(days=7),
            following=monday + dt.timedelta(days=7),
            department=department,
            departments=[(d, department_names(departments).get(d, f"#{d}")) for d in departments],
            doctor=doctor,
            doctors=[(d, people.get(d, f"#{d}")) for d in doctors],
            can_book=can(actor, APPOINTMENTS, "create") and can(actor, "customers", "read"),
            durations=DURATIONS,
            picker=PATIENT_PICKER,
            errors=errors or {},
            form=form or {},
            message=message,
        ),
        status,
    )


def _patient_names(actor, ids) -> dict:
    if not ids:
        return {}
    rows = scoped(Customer.select(Customer.id, Customer.name), actor, "customers").where(
        Customer.id.in_(sorted(ids))
    )
    shown = mask(actor, "customers", [{"id": c.id, "name": c.name} for c in rows])
    return {c["id"]: c.get("name") for c in shown}


@blp.route("/appointments/")
@login_required
def calendar():
    """One week of appointments: ``?department=&doctor=&week=YYYY-MM-DD``."""
    return _calendar()


@blp.route("/appointments/", methods=["POST"])
@login_required
def book():
    """Book a slot from the calendar: the write path with the clash rule (409: the form again,
    the slot's field marked); back to the booked doctor's week."""
    actor = web_actor()
    form = request.form
    start_text = (form.get("start_at") or "").strip()
    errors = {}
    try:
        local = dt.datetime.fromisoformat(start_text) if start_text else None
    except ValueError:
        local = None
    if local is None or local.tzinfo is not None:
        errors["start_at"] = [_("Pick a day and a time.")]
    minutes = _int(form.get("minutes"))
    if minutes not in DURATIONS:
        errors["minutes"] = [_("Pick a length.")]
    if errors:
        return _calendar(errors, form, _("Check the form."), 422)
    start = _utc(local)
    raw = {
        "customer_id": form.get("customer_id") or None,
        "doctor_id": form.get("doctor_id") or None,
        "department_id": _int(form.get("department_id")),
        "start_at": start.isoformat() + "Z",
        "end_at": (start + dt.timedelta(minutes=minutes)).isoformat() + "Z",
        "note": form.get("note", ""),
    }
    try:
        data = MedicalAppointmentSchema().load({k: v for k, v in raw.items() if v is not None})
        create_record(APPOINTMENTS, Appointment, data, actor, **appointments_crud.write_options)
    except ValidationError as exc:
        messages = {k: v if isinstance(v, list) else [str(v)] for k, v in exc.messages.items()}
        return _calendar(messages, form, _("Check the form."), 422)
    except APIError as exc:
        if exc.code not in (403, 404, 409, 422):
            raise
        return _calendar((exc.data or {}).get("errors") or {}, form, exc.message, exc.code)
    return redirect(
        url_for(
            "medical_web.calendar",
            department=raw["department_id"] or "",
            doctor=data["doctor_id"],
            week=local.date().isoformat(),
        )
    )
