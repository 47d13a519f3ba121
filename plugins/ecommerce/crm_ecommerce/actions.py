"""Automation actions (``crm_actions``): the core's rules issue coupons.

``ecommerce.issue_coupon {template_id}`` issues one code of the template to the triggering
event's customer, as the rule's owner (``acting_actor``: the owner must be allowed
``ecommerce.coupons:issue`` on the template). A sold-out or expired template is a 409, which the
rule engine does not retry.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from crm_core.plugin_api import APIError, acting_actor, get_record

from . import coupons
from .coupon_models import CouponTemplate


class EcommerceIssueCouponParams(Schema):
    """The parameters of ``ecommerce.issue_coupon``."""

    template_id = fields.Integer(required=True, validate=validate.Range(min=1))


def issue_coupon(params, event, customer):
    """Issue a code of ``params.template_id`` to ``customer``; the code's id and text."""
    if customer is None:
        raise APIError(422, "The event names no customer to issue a coupon to.")
    actor = acting_actor()
    template = get_record(CouponTemplate, params["template_id"], actor, coupons.RESOURCE, "issue")
    rule = (getattr(event, "meta", None) or {}).get("rules") or []
    code = coupons.issue(template, customer.id, actor, f"automation:{rule[-1] if rule else event.id}")
    return {"code_id": code.id, "code": code.code}


ACTIONS = [
    {
        "name": "ecommerce.issue_coupon",
        "label": _l("Issue a coupon"),
        "schema": EcommerceIssueCouponParams,
        "run": issue_coupon,
    }
]
