"""The medical workbench screens (``crm_web_blueprints``, ``crm_nav``), on the core's public web
API only (``login_required``, ``web_actor``, the permission functions, ``crm/base.html``).

Pages under ``/medical``:

- ``/patients/<id>``: the patient (as the core's rules show them: masked for the front desk),
  the visits the viewer may read (the same isolation as every read path, audited as one read),
  the appointments, and, for a clinician, how many visits lie in other departments with the
  break-glass form (a reason code and a sentence);
- ``/break-glass/<id>``: the records a break-glass opened, for its clinician while it lasts;
- ``/break-glass``: the review queue (a head: their department tree's; a clinician: their own),
  each with its review form.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError

from crm_core.plugin_api import (
    APIError,
    Customer,
    can,
    get_record,
    login_required,
    scoped,
    view,
    web_actor,
)

from . import breakglass
from .api import appointments_crud, records_crud
from .isolation import in_area
from .models import (
    APPOINTMENTS,
    BREAK_GLASS,
    BREAK_GLASS_REASONS,
    RECORDS,
    Appointment,
    BreakGlass,
    MedicalRecord,
)
from .readaudit import reading
from .schemas import MedicalBreakGlassOpenSchema, MedicalBreakGlassReviewSchema

blp = Blueprint("medical_web", __name__, url_prefix="/medical", template_folder="templates")

REASON_LABELS = {
    "ETREAT": _l("Emergency treatment"),
    "BTG": _l("Break the glass (other)"),
    "COVERING": _l("Covering for another clinician"),
    "PATIENT_UNCONSCIOUS": _l("Patient unconscious or unable to consent"),
    "THREAT_TO_LIFE": _l("Threat to life"),
}
VISIT_LABELS = {"outpatient": _l("outpatient"), "inpatient": _l("inpatient")}
STATUS_LABELS = {
    "proposed": _l("proposed"),
    "pending": _l("pending"),
    "booked": _l("booked"),
    "arrived": _l("arrived"),
    "fulfilled": _l("fulfilled"),
    "cancelled": _l("cancelled"),
    "noshow": _l("no-show"),
    "entered-in-error": _l("entered in error"),
    "checked-in": _l("checked in"),
    "waitlist": _l("waitlist"),
}
#: how a read was made (the read audit's ``path``) and why (HL7 PurposeOfUse)
PATH_LABELS = {
    "list": _l("list"),
    "search": _l("search"),
    "detail": _l("detail"),
    "export": _l("export"),
    "timeline": _l("timeline"),
    "patient_page": _l("patient page"),
    "break_glass": _l("break-glass page"),
    "privacy_export": _l("privacy export"),
}
PURPOSE_LABELS = {
    "TREAT": _l("treatment"),
    "HPAYMT": _l("payment"),
    "HOPERAT": _l("operations"),
    "PATRQT": _l("patient's request"),
    "BTG": _l("Break the glass"),
}


@blp.app_context_processor
def _medical_context():
    # the labels every medical page uses
    return {
        "medical_reasons": REASON_LABELS,
        "medical_visits": VISIT_LABELS,
        "medical_statuses": STATUS_LABELS,
        "medical_paths": PATH_LABELS,
        "medical_purposes": PURPOSE_LABELS,
    }


def _messages(exc: ValidationError) -> dict:
    return {k: v if isinstance(v, list) else [str(v)] for k, v in exc.messages.items()}


def _patient_page(customer_id: int, errors=None, form=None, message=None, status=200):
    actor = web_actor()
    customer = get_record(Customer, customer_id, actor, "customers")
    patient = view(actor, "customers").dump(
        {"id": customer.id, "name": customer.name, "phone": customer.phone, "custom": customer.custom or {}}
    )
    visits = []
    if view(actor, RECORDS).allowed:
        rows = list(
            scoped(MedicalRecord.select(), actor, RECORDS)
            .where(MedicalRecord.customer == customer.id)
            .order_by(MedicalRecord.visit_at.desc())
            .limit(100)
        )
        if rows:
            with reading("patient_page"):
                visits = records_crud.dump(rows, actor)
    booked = []
    if view(actor, APPOINTMENTS).allowed:
        rows = list(
            scoped(Appointment.select(), actor, APPOINTMENTS)
            .where(Appointment.customer == customer.id)
            .order_by(Appointment.start_at.desc())
            .limit(50)
        )
        booked = appointments_crud.dump(rows, actor)
    elsewhere = 0
    can_break = can(actor, BREAK_GLASS, "create") and can(actor, RECORDS, "read")
    if can_break:
        others = MedicalRecord.select(MedicalRecord.department_id).where(
            MedicalRecord.customer == customer.id
        )
        elsewhere = sum(1 for (dept,) in others.tuples() if not in_area(actor, dept))
    return (
        render_template(
            "medical/patient.html",
            patient=patient,
            visits=visits,
            appointments=booked,
            elsewhere=elsewhere,
            can_break=can_break and elsewhere > 0,
            ask_password=can_break and elsewhere > 0 and not breakglass.recently_confirmed(actor),
            can_audit=can(actor, "audit", "read"),
            reasons=BREAK_GLASS_REASONS,
            errors=errors or {},
            form=form or {},
            message=message,
        ),
        status,
    )


@blp.route("/patients/<int:customer_id>")
@login_required
def patient(customer_id):
    """The patient page: contact data, visits, appointments, break-glass."""
    return _patient_page(customer_id)


@blp.route("/patients/<int:customer_id>/break-glass", methods=["POST"])
@login_required
def break_glass(customer_id):
    """Break the glass from the patient page; back to the form with its messages if refused."""
    actor = web_actor()
    get_record(Customer, customer_id, actor, "customers")  # 404 outside the scope, first
    raw = {
        "customer_id": customer_id,
        "reason_code": request.form.get("reason_code", ""),
        "reason": request.form.get("reason", ""),
        "password": request.form.get("password") or None,
    }
    try:
        data = MedicalBreakGlassOpenSchema().load(raw)
        grants = breakglass.open_grants(
            actor, customer_id, data["reason_code"], data["reason"], password=data.get("password")
        )
    except ValidationError as exc:
        return _patient_page(customer_id, _messages(exc), request.form, _("Check the form."), 422)
    except APIError as exc:
        if exc.code not in (403, 409, 422):
            raise
        errors = (exc.data or {}).get("errors") or {}
        return _patient_page(customer_id, errors, request.form, exc.message, exc.code)
    # stored times are naive UTC; Babel shows them in the viewer's time zone
    until = format_datetime(grants[0].expires_at.replace(tzinfo=dt.UTC), "short")
    flash(_("Access opened until %(time)s. The department head has been told.", time=until), "warning")
    return redirect(url_for("medical_web.opened", grant_id=grants[0].id))


@blp.route("/break-glass/<int:grant_id>")
@login_required
def opened(grant_id):
    """The records a break-glass opened (its clinician, while it lasts); audited as one read."""
    actor = web_actor()
    grant = get_record(BreakGlass, grant_id, actor, BREAK_GLASS)
    rows = list(breakglass.opened_records(grant, actor))
    with reading("break_glass"):
        visits = records_crud.dump(rows, actor) if rows else []
    return render_template("medical/opened.html", grant=grant, visits=visits)


@blp.route("/break-glass/")
@login_required
def queue():
    """The review queue: break-glass grants within the viewer's scope, unreviewed first."""
    actor = web_actor()
    query = scoped(BreakGlass.select(), actor, BREAK_GLASS)
    grants = list(query.order_by(BreakGlass.reviewed_at.is_null(False), BreakGlass.id.desc()).limit(200))
    names = {
        c.id: c.name
        for c in scoped(Customer.select(Customer.id, Customer.name), actor, "customers").where(
            Customer.id.in_([g.customer_id for g in grants] or [0])
        )
    }
    return render_template(
        "medical/queue.html",
        grants=grants,
        names=names,
        can_review={g.id: can(actor, BREAK_GLASS, "review", g) for g in grants},
        active={g.id: breakglass.is_active(g) for g in grants},
    )


@blp.route("/break-glass/<int:grant_id>/review", methods=["POST"])
@login_required
def review(grant_id):
    """Mark one break-glass reviewed from the queue."""
    actor = web_actor()
    grant = get_record(BreakGlass, grant_id, actor, BREAK_GLASS)
    try:
        data = MedicalBreakGlassReviewSchema().load(
            {"decision": request.form.get("decision", ""), "note": request.form.get("note", "")}
        )
        breakglass.review(grant, actor, data["decision"], data["note"])
    except ValidationError:
        flash(_("Choose justified or unjustified."), "error")
    except APIError as exc:
        if exc.code not in (403, 409):
            raise
        flash(exc.message, "error")
    else:
        flash(_("Review recorded."), "success")
    return redirect(url_for("medical_web.queue"))


def panel_vars(customer, actor) -> dict:
    """The customer 360 panel's data: how many visits the viewer may read (no clinical text)."""
    count = 0
    if view(actor, RECORDS).allowed:
        count = (
            scoped(MedicalRecord.select(), actor, RECORDS)
            .where(MedicalRecord.customer == customer.id)
            .count()
        )
    return {"medical_visit_count": count}


NAV = [
    {
        "label": _l("Appointments"),
        "endpoint": "medical_web.calendar",
        "permission": "medical.appointments:read",
        "order": 69,
    },
    {
        "label": _l("Break-glass review"),
        "endpoint": "medical_web.queue",
        "permission": "medical.break_glass:read",
        "order": 70,
    },
    {
        "label": _l("Patient"),
        "kind": "customer_panel",
        "endpoint": None,
        "template": "medical/customer_panel.html",
        "permission": ["medical.records:read", "medical.appointments:read"],
        "order": 40,
        "template_vars": panel_vars,
    },
]
