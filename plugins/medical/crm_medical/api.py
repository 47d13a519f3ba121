"""The medical REST API under ``/api/v1/medical``.

- ``/records``: medical records (the core's CRUD: list grammar, ETags, the write path), read only
  inside the treating department (:mod:`crm_medical.isolation`), each read audited once
  (:mod:`crm_medical.readaudit`); ``/records/export`` (CSV) and
  ``/patients/<id>/timeline`` are the other read paths.
- ``/appointments``: doctors' slots, refused with 409 when they clash.
- ``/break-glass``: open (a reason), the review queue, a review.

Every view asks the permission module (``require``, ``scoped``, ``get_record``); none decides
who may see what itself.
"""

from __future__ import annotations

import csv
import io
import json

from flask import Response, request
from flask.views import MethodView

from crm_core.plugin_api import (
    API_PREFIX,
    APIError,
    Blueprint,
    CrudView,
    Customer,
    current_actor,
    get_record,
    json_response,
    list_query,
    mask,
    page_params,
    pagination_header,
    require,
    scoped,
)

from . import appointments, breakglass, records
from .models import APPOINTMENTS, BREAK_GLASS, RECORDS, Appointment, BreakGlass, MedicalRecord
from .readaudit import audit_rows, reading
from .schemas import (
    MedicalAppointmentSchema,
    MedicalAppointmentUpdateSchema,
    MedicalBreakGlassOpenSchema,
    MedicalBreakGlassReviewSchema,
    MedicalBreakGlassSchema,
    MedicalRecordSchema,
    MedicalRecordUpdateSchema,
)
from .templates import CLINICAL_FIELDS

blp = Blueprint(
    "medical",
    __name__,
    url_prefix=f"{API_PREFIX}/medical",
    description="Clinics: medical records under strict department isolation (every read audited), "
    "appointments without double booking, break-glass access with reason and review.",
)

#: query parameters of the reads that are not list filters
READ_ARGS = ("purpose",)


class MedicalRecords(CrudView):
    """Medical records; ``?purpose=`` says why they are read (HL7 PurposeOfUse, TREAT by default)."""

    resource, model, path, name = RECORDS, MedicalRecord, "/records", "records"
    schema, update_schema = MedicalRecordSchema, MedicalRecordUpdateSchema(partial=True)
    methods = ("list", "create", "read", "update")
    search_fields = [MedicalRecord.visit_no]
    prefetch = staticmethod(audit_rows)
    before_save = staticmethod(records.before_save)
    description = "medical records"

    def serialize(self, record) -> dict:
        """The audit and event image: no clinical text (see :func:`crm_medical.records.image`)."""
        return records.image(record)

    def list_options(self) -> dict:
        """The core's list options, with ``purpose`` left to the read audit."""
        return {**super().list_options(), "ignore": READ_ARGS}

    def create(self, data: dict, actor):
        """The core's create, the ``attachments`` given moved into their encrypted custom field."""
        return super().create(records.with_attachments(data), actor)

    def update(self, data: dict, record_id, actor):
        """The core's update, the ``attachments`` given moved into their encrypted custom field."""
        return super().update(records.with_attachments(data), record_id, actor)


class MedicalAppointments(CrudView):
    """Appointments: one doctor, one patient, a half-open slot; clashes are refused (409)."""

    resource, model, path, name = APPOINTMENTS, Appointment, "/appointments", "appointments"
    schema, update_schema = MedicalAppointmentSchema, MedicalAppointmentUpdateSchema(partial=True)
    before_save = staticmethod(appointments.check_clash)
    default_sort = "start_at"
    description = "appointments"


records_crud = MedicalRecords.mount(blp)
appointments_crud = MedicalAppointments.mount(blp)

EXPORT_COLUMNS = ("id", "customer_id", "department_id", "doctor_id", "visit_no", "visit_type", "visit_at")


@blp.route("/records/export")
class RecordsExport(MethodView):
    """The records the list filters select, as CSV."""

    @blp.doc(summary="Export medical records (CSV)")
    @blp.response(200, description="text/csv")
    def get(self):
        """Every record the filters select within your export scope (never one opened by a
        break-glass: that is for reading, not for taking away), audited as one read."""
        actor = current_actor()
        rows, _total = list_query(
            MedicalRecord,
            RECORDS,
            request.args,
            actor,
            action="export",
            paginate=False,
            search_fields=MedicalRecords.search_fields,
            ignore=READ_ARGS,
        )
        with reading("export"):
            data = records_crud.dump(list(rows), actor)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*EXPORT_COLUMNS, *CLINICAL_FIELDS])
        for row in data:
            custom = row.get("custom") or {}
            writer.writerow([row.get(c) for c in EXPORT_COLUMNS] + [custom.get(c) for c in CLINICAL_FIELDS])
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="medical-records.csv"'},
        )


@blp.route("/patients/<int:customer_id>/timeline")
class PatientTimeline(MethodView):
    """A patient's visits and appointments, newest first."""

    @blp.doc(summary="A patient's clinical timeline")
    @blp.response(200)
    def get(self, customer_id):
        """Visits (what you may read of them) and appointments of the patient, newest first; the
        patient must be one you can read; the visits' read is audited once."""
        actor = current_actor()
        customer = get_record(Customer, customer_id, actor, "customers")
        visits = list(
            scoped(MedicalRecord.select(), actor, RECORDS)
            .where(MedicalRecord.customer == customer.id)
            .order_by(MedicalRecord.visit_at.desc())
            .limit(200)
        )
        items = []
        if visits:
            with reading("timeline"):
                for row in records_crud.dump(visits, actor):
                    items.append({"type": "visit", "at": row["visit_at"], "object": RECORDS, "data": row})
        booked = list(
            scoped(Appointment.select(), actor, APPOINTMENTS)
            .where(Appointment.customer == customer.id)
            .order_by(Appointment.start_at.desc())
            .limit(200)
        )
        for row in appointments_crud.dump(booked, actor):
            items.append({"type": "appointment", "at": row["start_at"], "object": APPOINTMENTS, "data": row})
        items.sort(key=lambda item: item["at"] or "", reverse=True)
        return json_response(items)


@blp.route("/break-glass")
class BreakGlassCollection(MethodView):
    """Open a break-glass; the review queue."""

    @blp.arguments(MedicalBreakGlassOpenSchema)
    @blp.response(201, MedicalBreakGlassSchema(many=True))
    @blp.doc(summary="Break the glass: open a patient's records outside your department")
    def post(self, data):
        """Open time-boxed read access (``MEDICAL_BREAK_GLASS_HOURS``) to the patient's records
        of the departments you do not belong to, after your ``password`` again (403 naming it when
        missing or wrong; not asked within ``MEDICAL_BREAK_GLASS_REAUTH_MINUTES`` of the last
        time); audited (FHIR AuditEvent, BTG), notified to each
        department's head and queued for review. One grant per department opened."""
        actor = current_actor()
        grants = breakglass.open_grants(
            actor,
            data["customer_id"],
            data["reason_code"],
            data["reason"],
            data.get("department_id"),
            password=data.get("password"),
        )
        return json_response([breakglass.grant_dict(g) for g in grants], 201)

    @blp.doc(summary="The break-glass review queue")
    @blp.response(200, MedicalBreakGlassSchema(many=True))
    def get(self):
        """Break-glass grants within your read scope (a head: their department tree's; a
        clinician: their own), newest first; ``?reviewed=false`` for the queue still to review."""
        actor = current_actor()
        query = scoped(BreakGlass.select(), actor, BREAK_GLASS)
        reviewed = request.args.get("reviewed")
        if reviewed in ("false", "0"):
            query = query.where(BreakGlass.reviewed_at.is_null())
        elif reviewed in ("true", "1"):
            query = query.where(BreakGlass.reviewed_at.is_null(False))
        elif reviewed is not None:
            raise APIError(400, "reviewed must be true or false.", errors={"reviewed": ["true or false."]})
        page, page_size = page_params(request.args)
        total = query.count()
        rows = query.order_by(BreakGlass.id.desc()).paginate(page, page_size)
        data = mask(actor, BREAK_GLASS, [breakglass.grant_dict(g) for g in rows])
        meta = pagination_header(total, page, page_size)
        return json_response(data, 200, {"X-Pagination": json.dumps(meta)})


@blp.route("/break-glass/<int:grant_id>")
class BreakGlassItem(MethodView):
    """One break-glass grant."""

    @blp.response(200, MedicalBreakGlassSchema)
    @blp.doc(summary="One break-glass grant")
    def get(self, grant_id):
        """The grant (404 outside your read scope)."""
        actor = current_actor()
        grant = get_record(BreakGlass, grant_id, actor, BREAK_GLASS)
        return json_response(mask(actor, BREAK_GLASS, breakglass.grant_dict(grant)))


@blp.route("/break-glass/<int:grant_id>/records")
class BreakGlassRecords(MethodView):
    """The records a break-glass opened."""

    @blp.response(200, MedicalRecordSchema(many=True))
    @blp.doc(summary="Read the records a break-glass opened")
    def get(self, grant_id):
        """The patient's records of the grant's department, while the grant is open, for the
        clinician who broke the glass; audited as one read with purpose BTG."""
        actor = current_actor()
        grant = get_record(BreakGlass, grant_id, actor, BREAK_GLASS)
        rows = list(breakglass.opened_records(grant, actor))
        with reading("break_glass"):
            return json_response(records_crud.dump(rows, actor))


@blp.route("/break-glass/<int:grant_id>/review")
class BreakGlassReview(MethodView):
    """Mark a break-glass reviewed."""

    @blp.arguments(MedicalBreakGlassReviewSchema)
    @blp.response(200, MedicalBreakGlassSchema)
    @blp.doc(summary="Review a break-glass")
    def post(self, data, grant_id):
        """Justified or not, with a note (``medical.break_glass:review``; not your own)."""
        actor = current_actor()
        grant = get_record(BreakGlass, grant_id, actor, BREAK_GLASS)
        require(actor, BREAK_GLASS, "review", grant)
        grant = breakglass.review(grant, actor, data["decision"], data["note"])
        return json_response(mask(actor, BREAK_GLASS, breakglass.grant_dict(grant)))
