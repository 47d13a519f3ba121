"""The recall API under ``/api/v1/ecommerce/recall`` (resource ``ecommerce.recall``): flows as a
``CrudView``, each flow's results, and its runs."""

from __future__ import annotations

import json

from flask import request
from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates

from crm_core.plugin_api import (
    CrudView,
    UTCDateTime,
    current_actor,
    get_record,
    json_response,
    page_params,
    pagination_header,
    readable_reference,
)

from . import recall
from .api import blp
from .coupon_models import CouponTemplate
from .recall_models import TRIGGERS, RecallFlow, RecallRun

RECALL = recall.RESOURCE


class EcommerceRecallFlowSchema(Schema):
    """A recall flow: its triggers, delay, cooldown, coupon and message."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    triggers = fields.List(fields.String(validate=validate.OneOf(TRIGGERS)), required=True)
    delay_minutes = fields.Integer(load_default=60, validate=validate.Range(min=0, max=60 * 24 * 30))
    cooldown_days = fields.Integer(load_default=7, validate=validate.Range(min=0, max=365))
    template_id = fields.Integer(allow_none=True, metadata={"description": "the coupon to issue, if any"})
    message = fields.String(
        load_default="",
        validate=validate.Length(max=2000),
        metadata={"description": "{code} is replaced by the coupon"},
    )
    active = fields.Boolean(load_default=True)
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict()
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)

    @validates("triggers")
    def _some(self, value, **kwargs):
        if not value:
            raise ValidationError(_l("Name at least one trigger."))


class EcommerceRecallRunSchema(Schema):
    """One customer's run through a flow."""

    id = fields.Integer(dump_only=True)
    flow_id = fields.Integer(dump_only=True)
    customer_id = fields.Integer(dump_only=True)
    trigger = fields.String(dump_only=True)
    event_id = fields.String(dump_only=True)
    started_at = UTCDateTime(dump_only=True)
    due_at = UTCDateTime(dump_only=True)
    status = fields.String(dump_only=True)
    exit_reason = fields.String(dump_only=True)
    code_id = fields.Integer(dump_only=True, allow_none=True)
    finished_at = UTCDateTime(dump_only=True)


class Flows(CrudView):
    """Recall flows."""

    resource, model, schema = RECALL, RecallFlow, EcommerceRecallFlowSchema
    path, name, description = "/recall/flows", "recall_flows", "recall flows"
    search_fields = [RecallFlow.name]

    @staticmethod
    def before_save(record, data, before):
        """The coupon template must be one the writer may read (422 naming ``template_id``)."""
        if data.get("template_id") is not None:
            readable_reference(
                CouponTemplate, data["template_id"], current_actor(), "ecommerce.coupons", "template_id"
            )


Flows.mount(blp)


@blp.route("/recall/flows/<int:flow_id>/results")
class Results(MethodView):
    """How a flow's runs ended."""

    def get(self, flow_id):
        """``{"waiting", "sent", "exited": {reason: count}}``."""
        flow = get_record(RecallFlow, flow_id, current_actor(), RECALL)
        return json_response(recall.results(flow.id))


@blp.route("/recall/flows/<int:flow_id>/runs")
class Runs(MethodView):
    """A flow's runs, newest first (filter ``status``)."""

    def get(self, flow_id):
        """One page of the flow's runs."""
        flow = get_record(RecallFlow, flow_id, current_actor(), RECALL)
        query = RecallRun.select().where(RecallRun.flow == flow.id).order_by(RecallRun.id.desc())
        if request.args.get("status"):
            query = query.where(RecallRun.status == request.args["status"])
        page, page_size = page_params(request.args)
        total = query.count()
        rows = EcommerceRecallRunSchema(many=True).dump(list(query.paginate(page, page_size)))
        return json_response(
            rows, 200, {"X-Pagination": json.dumps(pagination_header(total, page, page_size))}
        )
