"""``/api/v1/privacy-requests``: tracked requests of data subjects (GDPR Art. 15/16/17/20, PIPL
Art. 45-47): log, list (overdue ones too), process as the handler, reject with a reason, and
download an access/portability export as JSON or as a readable HTML file."""

from __future__ import annotations

import json

from flask import Response
from flask.views import MethodView
from flask_babel import gettext as _
from marshmallow import Schema, fields, validate

from .. import permissions
from ..audit import record_read
from ..auth import current_actor
from ..db import utcnow
from ..entities.models import Customer
from ..entities.schemas import BlankText, UTCDateTime
from ..errors import APIError
from ..privacy.models import CHANNELS, KINDS, OPEN_STATUSES, STATUSES, PrivacyRequest
from ..privacy.render import export_html
from ..privacy.requests import (
    create_request,
    export_document,
    extend_request,
    get_request,
    process_request,
    reject_request,
    request_dict,
    visible_requests,
)
from . import API_PREFIX, Blueprint

blp = Blueprint(
    "privacy_requests",
    __name__,
    url_prefix=f"{API_PREFIX}/privacy-requests",
    description="Privacy requests: access, portability, erasure, rectification, with due dates",
)


class ErasureSummarySchema(Schema):
    erased = fields.Dict(keys=fields.String(), values=fields.Integer())


class PrivacyRequestSchema(Schema):
    id = fields.Integer(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    customer_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    status = fields.String(dump_only=True, metadata={"enum": list(STATUSES)})
    overdue = fields.Boolean(dump_only=True, metadata={"description": "open and past due_at"})
    requested_at = UTCDateTime(metadata={"description": "when it was received (default: now)"})
    due_at = UTCDateTime(dump_only=True, metadata={"description": "one month later by default"})
    channel = fields.String(load_default="other", validate=validate.OneOf(CHANNELS))
    notes = BlankText(load_default="", validate=validate.Length(max=5000))
    requested_by_id = fields.Integer(dump_only=True, allow_none=True)
    handled_by_id = fields.Integer(dump_only=True, allow_none=True)
    started_at = UTCDateTime(dump_only=True, allow_none=True)
    completed_at = UTCDateTime(dump_only=True, allow_none=True)
    rejection_reason = fields.String(dump_only=True)
    error = fields.String(dump_only=True)
    export_available = fields.Boolean(dump_only=True)
    export_expires_at = UTCDateTime(dump_only=True, allow_none=True)
    erasure = fields.Nested(ErasureSummarySchema, dump_only=True, allow_none=True)
    extended_at = UTCDateTime(dump_only=True, allow_none=True)
    extension_reason = fields.String(dump_only=True)


class PrivacyRequestQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    kind = fields.String(validate=validate.OneOf(KINDS))
    customer_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    overdue = fields.Boolean(metadata={"description": "true: only open requests past their due time"})


class RejectSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ExtendSchema(Schema):
    months = fields.Integer(load_default=2, validate=validate.Range(min=1, max=2))
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "why (complexity, number of requests): the person must be told"},
    )


def _customer(actor, customer_id: int) -> Customer:
    """The request's customer, readable by ``actor``; 422 on the field otherwise (no id revealed)."""
    found = permissions.scoped(Customer.select(), actor, "customers", "read").where(
        Customer.id == customer_id
    )
    customer = found.first()
    if customer is None:
        raise APIError(422, _("Invalid privacy request."), errors={"customer_id": [_("No such customer.")]})
    return customer


@blp.route("")
class PrivacyRequests(MethodView):
    @blp.arguments(PrivacyRequestQuerySchema, location="query")
    @blp.response(200, PrivacyRequestSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Requests about customers you may read, oldest due first (needs privacy.requests:read)."""
        query = visible_requests(current_actor()).order_by(PrivacyRequest.due_at, PrivacyRequest.id)
        for name in ("status", "kind"):
            if name in args:
                query = query.where(getattr(PrivacyRequest, name) == args[name])
        if "customer_id" in args:
            query = query.where(PrivacyRequest.customer == args["customer_id"])
        now = utcnow()
        if args.get("overdue") is True:
            query = query.where(PrivacyRequest.status.in_(OPEN_STATUSES), PrivacyRequest.due_at < now)
        elif args.get("overdue") is False:
            query = query.where(~(PrivacyRequest.status.in_(OPEN_STATUSES) & (PrivacyRequest.due_at < now)))
        pagination_parameters.item_count = query.count()
        page = query.paginate(pagination_parameters.page, pagination_parameters.page_size)
        return [request_dict(r, now) for r in page]

    @blp.arguments(PrivacyRequestSchema)
    @blp.response(201, PrivacyRequestSchema)
    def post(self, data):
        """Log a request received from a data subject; its due date is set (privacy.requests:create)."""
        actor = current_actor()
        permissions.require(actor, "privacy.requests", "create")
        customer = _customer(actor, data["customer_id"])
        requested_at = data.get("requested_at")
        if requested_at is not None and requested_at > utcnow():  # loaded as naive UTC
            raise APIError(
                422, _("Invalid privacy request."), errors={"requested_at": [_("Cannot be in the future.")]}
            )
        request = create_request(actor, customer, data["kind"], data["channel"], data["notes"], requested_at)
        return request_dict(request)


@blp.route("/<int:request_id>")
class PrivacyRequestItem(MethodView):
    @blp.response(200, PrivacyRequestSchema)
    def get(self, request_id):
        """One request (404 unless its customer is readable and you hold privacy.requests:read);
        the read is audited (a sensitive resource)."""
        actor = current_actor()
        found = get_request(request_id, actor)
        record_read(actor, "privacy.requests", found.id, record=found.customer)
        return request_dict(found)


@blp.route("/<int:request_id>/process")
class PrivacyRequestProcess(MethodView):
    @blp.response(200, PrivacyRequestSchema)
    @blp.alt_response(409, description="Already completed or rejected")
    def post(self, request_id):
        """Answer the request as you: export it (kept for download) or erase the customer; a
        failure leaves nothing erased and the request ``failed`` with the error. Needs
        privacy.requests:process and customers:export (access, portability) or customers:delete
        (erasure) on the customer."""
        actor = current_actor()
        return request_dict(process_request(get_request(request_id, actor), actor))


@blp.route("/<int:request_id>/reject")
class PrivacyRequestReject(MethodView):
    @blp.arguments(RejectSchema)
    @blp.response(200, PrivacyRequestSchema)
    def post(self, data, request_id):
        """Refuse the request, giving the reason the person will be told (privacy.requests:reject)."""
        actor = current_actor()
        return request_dict(reject_request(get_request(request_id, actor), actor, data["reason"]))


@blp.route("/<int:request_id>/extend")
class PrivacyRequestExtend(MethodView):
    @blp.arguments(ExtendSchema)
    @blp.response(200, PrivacyRequestSchema)
    @blp.alt_response(409, description="Closed, or already extended")
    def post(self, data, request_id):
        """Extend the due date once by one or two months (GDPR Art. 12(3): complex or numerous
        requests; tell the person why within the first month). Needs privacy.requests:process."""
        actor = current_actor()
        request = extend_request(get_request(request_id, actor), actor, data["months"], data["reason"])
        return request_dict(request)


def _download(body: str, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/<int:request_id>/export")
class PrivacyRequestExport(MethodView):
    @blp.response(200)
    @blp.alt_response(410, description="The export was kept for CORE_PRIVACY_EXPORT_HOURS and is gone")
    def get(self, request_id):
        """The export of a completed access/portability request, as a JSON file (audited)."""
        actor = current_actor()
        document = export_document(get_request(request_id, actor), actor)
        body = json.dumps(document, ensure_ascii=False, indent=2)
        return _download(body, "application/json; charset=utf-8", f"privacy-export-{request_id}.json")


@blp.route("/<int:request_id>/export.html")
class PrivacyRequestExportHTML(MethodView):
    @blp.response(200)
    @blp.alt_response(410, description="The export was kept for CORE_PRIVACY_EXPORT_HOURS and is gone")
    def get(self, request_id):
        """The same export as a readable HTML file, labelled in Chinese and English (audited)."""
        actor = current_actor()
        document = export_document(get_request(request_id, actor), actor)
        return _download(
            export_html(document), "text/html; charset=utf-8", f"privacy-export-{request_id}.html"
        )
