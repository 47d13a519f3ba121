"""The portrait API under ``/api/v1/ecommerce/portraits``: tag rules (resource
``ecommerce.tag_rules``, a ``CrudView``), the customers' profiles (RFM and figures, read within
the caller's customer scope) and a rebuild of one customer's profile now."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from flask import request
from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crm_core.plugin_api import (
    CrudView,
    Customer,
    UTCDateTime,
    current_actor,
    get_record,
    json_response,
    page_params,
    pagination_header,
    scoped,
)

from . import portraits
from .api import blp
from .portrait_models import CustomerProfile, TagRule

RULES = portraits.RESOURCE


class EcommerceConditionSchema(Schema):
    """One condition of a tag rule: ``{"field": "avg_order_value", "op": ">=", "value": 500}``."""

    field = fields.String(required=True, validate=validate.OneOf(list(portraits.FIELDS)))
    op = fields.String(required=True)
    value = fields.Raw(required=True)

    @validates_schema
    def _fits(self, data, **kwargs):
        kind = portraits.FIELDS.get(data.get("field"))
        if kind is None:
            return
        if data.get("op") not in portraits.OPS[kind]:
            raise ValidationError(
                {"op": [_l("Must be one of: %(ops)s.", ops=", ".join(portraits.OPS[kind]))]}
            )
        value = data.get("value")
        if kind == portraits.NUMBER:
            try:
                ok = not isinstance(value, bool) and Decimal(str(value)).is_finite()
            except InvalidOperation:
                ok = False
            if not ok:
                raise ValidationError({"value": [_l("Must be a number.")]})
        elif data["op"] == "in" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ValidationError({"value": [_l("Must be a list of texts.")]})
        elif data["op"] != "in" and not isinstance(value, str):
            raise ValidationError({"value": [_l("Must be a text.")]})


class EcommerceTagRuleSchema(Schema):
    """A tag rule: the core customer tag it keeps true and its conditions (all must hold)."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    tag = fields.String(required=True, validate=validate.Length(min=1, max=100))
    conditions = fields.List(
        fields.Nested(EcommerceConditionSchema), required=True, validate=validate.Length(min=1, max=20)
    )
    active = fields.Boolean(load_default=True)
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict()
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class EcommerceProfileSchema(Schema):
    """A customer's portrait: order figures in the window, R/F/M (0: no paid order), tier,
    channels and the tags the rules keep."""

    customer_id = fields.Integer()
    orders = fields.Integer()
    spent = fields.Decimal(as_string=True, places=2)
    avg_order = fields.Decimal(as_string=True, places=2)
    max_order = fields.Decimal(as_string=True, places=2)
    last_order_at = UTCDateTime(allow_none=True)
    recency_days = fields.Integer(allow_none=True)
    r = fields.Integer()
    f = fields.Integer()
    m = fields.Integer()
    loyalty_tier = fields.String(allow_none=True)
    channels = fields.List(fields.String())
    auto_tags = fields.List(fields.String())
    computed_at = UTCDateTime(allow_none=True)


class Rules(CrudView):
    """Tag rules (re-evaluated by ``ecommerce:portraits`` and ``ecommerce:portraits_all``)."""

    resource, model, schema = RULES, TagRule, EcommerceTagRuleSchema
    path, name, description = "/portraits/rules", "tag_rules", "tag rules"
    search_fields = [TagRule.name, TagRule.tag]


Rules.mount(blp)


def _readable_profiles(actor):
    customers = scoped(Customer.select(Customer.id), actor, "customers", "read")
    return CustomerProfile.select().where(CustomerProfile.customer_id.in_(customers))


@blp.route("/portraits/customers")
class Profiles(MethodView):
    """The profiles of the customers you may read."""

    @blp.response(200, EcommerceProfileSchema(many=True))
    def get(self):
        """Highest value first; ``r``, ``f``, ``m`` (a score) and ``min_orders`` filter."""
        actor = current_actor()
        query = _readable_profiles(actor)
        for name in ("r", "f", "m"):
            if request.args.get(name, "").isdigit():
                query = query.where(getattr(CustomerProfile, name) == int(request.args[name]))
        if request.args.get("min_orders", "").isdigit():
            query = query.where(CustomerProfile.orders >= int(request.args["min_orders"]))
        query = query.order_by(CustomerProfile.spent.desc(), CustomerProfile.customer_id)
        page, page_size = page_params(request.args)
        total = query.count()
        rows = EcommerceProfileSchema(many=True).dump(query.paginate(page, page_size))
        return json_response(
            rows, 200, {"X-Pagination": json.dumps(pagination_header(total, page, page_size))}
        )


@blp.route("/portraits/customers/<int:customer_id>")
class Profile(MethodView):
    """One customer's profile."""

    @blp.response(200, EcommerceProfileSchema)
    def get(self, customer_id):
        """The profile as last computed (404 for a customer without one, or not readable)."""
        actor = current_actor()
        get_record(Customer, customer_id, actor, "customers")
        profile = CustomerProfile.get_or_none(CustomerProfile.customer_id == customer_id)
        if profile is None:
            get_record(Customer, 0, actor, "customers")  # the usual 404
        return json_response(EcommerceProfileSchema().dump(profile))


@blp.route("/portraits/customers/<int:customer_id>/refresh")
class RefreshProfile(MethodView):
    """Rebuild one customer's profile and tags now."""

    def post(self, customer_id):
        """As the jobs would, as you (the tag change needs ``customers:update`` on them)."""
        actor = current_actor()
        get_record(Customer, customer_id, actor, "customers", "update")
        result = portraits.refresh([customer_id], actor)
        profile = CustomerProfile.get(CustomerProfile.customer_id == customer_id)
        return json_response({**EcommerceProfileSchema().dump(profile), "result": result})
