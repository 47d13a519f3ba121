"""The coupon API under ``/api/v1/ecommerce/coupons`` (resource ``ecommerce.coupons``).

Templates are a ``CrudView``. Codes are issued to a customer (``issue``), to every customer of a
segment (a task: ``202`` and its progress at ``/api/v1/tasks/<id>``), or anonymously
(``count`` codes). Redeeming (核销) names the code and the order; the same code on the same order
again answers the first redemption. Releasing gives the use back once.
"""

from __future__ import annotations

import json

from flask import request
from flask.views import MethodView
from flask_babel import gettext as _

from crm_core.plugin_api import (
    APIError,
    CrudView,
    Customer,
    current_actor,
    get_record,
    json_response,
    mask,
    page_params,
    pagination_header,
    queue_task,
    readable_reference,
    require,
    scoped,
    task_accepted,
)

from . import coupons
from .api import ORDERS, blp
from .coupon_batch import issue_once_each
from .coupon_models import CouponCode, CouponRedemption, CouponTemplate
from .models import Order
from .schemas import (
    EcommerceCouponCodeSchema,
    EcommerceCouponTemplateSchema,
    EcommerceIssueSchema,
    EcommerceRedeemSchema,
    EcommerceRedemptionSchema,
)

COUPONS = coupons.RESOURCE
SEGMENT_TASK = "ecommerce.coupons.issue_segment"


class Templates(CrudView):
    """Coupon templates."""

    resource, model, schema = COUPONS, CouponTemplate, EcommerceCouponTemplateSchema
    path, name, description = "/coupons/templates", "coupon_templates", "coupon templates"
    search_fields = [CouponTemplate.name]


Templates.mount(blp)


def _template(template_id: int, actor, action: str = "read") -> CouponTemplate:
    return get_record(CouponTemplate, template_id, actor, COUPONS, action)


@blp.route("/coupons/templates/<int:template_id>/issue")
class Issue(MethodView):
    """Issue codes of a template."""

    @blp.arguments(EcommerceIssueSchema)
    @blp.response(201, EcommerceCouponCodeSchema(many=True))
    @blp.alt_response(202, description="A segment: the task that issues its codes")
    def post(self, data, template_id):
        """One code for ``customer_id``; ``count`` anonymous codes (or ``code``, a chosen one);
        or, with ``segment_id``, one code for each customer of the segment, as a task."""
        actor = current_actor()
        template = _template(template_id, actor, "issue")
        if "segment_id" in data:
            from crm_core.plugin_api import Segment  # lazy: only this branch reads segments

            readable_reference(Segment, data["segment_id"], actor, "segments", "segment_id")
            task = queue_task(
                SEGMENT_TASK, actor, {"template_id": template.id, "segment_id": data["segment_id"]}
            )
            return task_accepted(task)
        if "customer_id" in data:
            readable_reference(Customer, data["customer_id"], actor, "customers", "customer_id")
            issued = [coupons.issue(template, data["customer_id"], actor, "api", data.get("code"))]
        else:
            if data.get("code") and data["count"] != 1:
                raise APIError(
                    422, _("A chosen code is issued once."), errors={"count": [_("Must be 1 with code.")]}
                )
            issued = [
                coupons.issue(template, None, actor, "api", data.get("code")) for _i in range(data["count"])
            ]
        return json_response(EcommerceCouponCodeSchema(many=True).dump(issued), 201)


# customers per write transaction: one lock of the template, one stock UPDATE, one INSERT of codes
# and one batch of audit entries each; small enough that a concurrent single issue or redemption
# waits for the lock a fraction of a second, and a failure loses one chunk's work, not the run's
CHUNK = 500


def issue_segment_task(ctx) -> dict:
    """The task of a segment issue: one code per customer of the segment the creator may read,
    skipping customers who already hold a code of this template from this segment (a task run
    again, even at the same time, does not issue twice). Written ``CHUNK`` customers per
    transaction (:func:`crm_ecommerce.coupon_batch.issue_once_each`), progress after each; a sold
    out or expired template stops the run, the codes issued before it stay."""
    from crm_core.plugin_api import Segment, segment_customers  # lazy: the task's own module load

    template = CouponTemplate.get_by_id(ctx.params["template_id"])
    segment = Segment.get_by_id(ctx.params["segment_id"])
    source = f"segment:{segment.id}"
    query, _total = segment_customers(segment, ctx.actor, paginate=False)
    ids = [c.id for c in query.select(Customer.id)]
    ctx.progress(0, len(ids), "issuing")
    issued = skipped = 0
    refused = None
    for start in range(0, len(ids), CHUNK):
        outcome = issue_once_each(template.id, ids[start : start + CHUNK], ctx.actor, source)
        issued += len(outcome.codes)
        skipped += outcome.skipped
        ctx.progress(issued + skipped, len(ids))  # the customers dealt with, in order
        if outcome.stopped is not None:  # sold out or expired: the rest would be refused alike
            refused = outcome.stopped
            break
    return {"issued": issued, "skipped": skipped, "customers": len(ids), "stopped": refused}


def _codes_query(actor):
    templates = scoped(CouponTemplate.select(CouponTemplate.id), actor, COUPONS, "read")
    return CouponCode.select().where(CouponCode.template.in_(templates))


@blp.route("/coupons/codes")
class Codes(MethodView):
    """Codes of the templates you may read."""

    @blp.response(200, EcommerceCouponCodeSchema(many=True))
    def get(self):
        """Codes, newest first; filter by ``template_id``, ``customer_id``, ``code``."""
        actor = current_actor()
        query = _codes_query(actor).order_by(CouponCode.id.desc())
        for name, column in (("template_id", CouponCode.template), ("customer_id", CouponCode.customer_id)):
            if request.args.get(name, "").isdigit():
                query = query.where(column == int(request.args[name]))
        if request.args.get("code"):
            query = query.where(CouponCode.code == coupons.normalise(request.args["code"]))
        return _page(query, EcommerceCouponCodeSchema, actor)


def _page(query, schema, actor):
    page, page_size = page_params(request.args)
    total = query.count()
    data = mask(actor, COUPONS, schema(many=True).dump(list(query.paginate(page, page_size))))
    return json_response(data, 200, {"X-Pagination": json.dumps(pagination_header(total, page, page_size))})


def _order(order_id: int, actor) -> Order:
    return readable_reference(Order, order_id, actor, ORDERS, "order_id")


def _known_code(text: str, actor) -> None:
    """422 for a code of a template the actor may not read (as for an unknown one)."""
    code = CouponCode.get_or_none(CouponCode.code == coupons.normalise(text))
    if code is None or not _codes_query(actor).where(CouponCode.id == code.id).exists():
        raise APIError(422, _("Unknown coupon code."), errors={"code": [_("Unknown code.")]})


@blp.route("/coupons/quote")
class Quote(MethodView):
    """What a code would take off an order."""

    @blp.arguments(EcommerceRedeemSchema)
    def post(self, data):
        """The discount, changing nothing (422 or 409 with the reason when it does not apply)."""
        actor = current_actor()
        require(actor, COUPONS, "read")
        _known_code(data["code"], actor)
        result = coupons.quote(data["code"], _order(data["order_id"], actor))
        return json_response({**result, "amount": str(result["amount"])})


@blp.route("/coupons/redeem")
class Redeem(MethodView):
    """Redeem (核销) a code on an order."""

    @blp.arguments(EcommerceRedeemSchema)
    @blp.response(201, EcommerceRedemptionSchema)
    @blp.alt_response(409, description="Used up, over the customer's limit, expired or not stackable")
    def post(self, data):
        """Redeem the code on the order: 201, or 200 with the first redemption when this code was
        already redeemed on this order."""
        actor = current_actor()
        require(actor, COUPONS, "redeem")
        _known_code(data["code"], actor)
        order = _order(data["order_id"], actor)
        redemption, created = coupons.redeem(data["code"], order.id, actor)
        return json_response(EcommerceRedemptionSchema().dump(redemption), 201 if created else 200)


@blp.route("/coupons/redemptions")
class Redemptions(MethodView):
    """Redemptions of the templates you may read."""

    @blp.response(200, EcommerceRedemptionSchema(many=True))
    def get(self):
        """Redemptions, newest first; filter by ``order_id``, ``template_id``, ``status``."""
        actor = current_actor()
        templates = scoped(CouponTemplate.select(CouponTemplate.id), actor, COUPONS, "read")
        query = CouponRedemption.select().where(CouponRedemption.template.in_(templates))
        for name, column in (
            ("order_id", CouponRedemption.order_id),
            ("template_id", CouponRedemption.template),
        ):
            if request.args.get(name, "").isdigit():
                query = query.where(column == int(request.args[name]))
        if request.args.get("status"):
            query = query.where(CouponRedemption.status == request.args["status"])
        return _page(query.order_by(CouponRedemption.id.desc()), EcommerceRedemptionSchema, actor)


@blp.route("/coupons/redemptions/<int:redemption_id>/release")
class Release(MethodView):
    """Give a redemption's use back."""

    @blp.response(200, EcommerceRedemptionSchema)
    def post(self, redemption_id):
        """Release the redemption (again: nothing changes, ``released`` stays as it was)."""
        actor = current_actor()
        require(actor, COUPONS, "redeem")
        redemption = CouponRedemption.get_or_none(CouponRedemption.id == redemption_id)
        if redemption is None:
            raise APIError(404, _("No such redemption."))
        _template(redemption.template_id, actor)
        _order(redemption.order_id, actor)
        coupons.release(redemption_id, actor)
        return json_response(EcommerceRedemptionSchema().dump(CouponRedemption.get_by_id(redemption_id)))
