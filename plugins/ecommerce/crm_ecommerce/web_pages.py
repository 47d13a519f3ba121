"""The e-commerce workbench screens under ``/ecommerce``: orders (filters; detail with lines,
refunds, history and coupons), coupon templates with their usage, parcels (stuck ones first)
and recall flows with their results. Every query is the viewer's (``scoped``), as in the API;
changes are made through the API (``/api/v1/ecommerce``)."""

from __future__ import annotations

import peewee as pw
from flask import redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from crm_core.plugin_api import can, get_record, login_required, require, scoped, web_actor

from . import recall
from .api import detail
from .coupon_models import CouponCode, CouponRedemption, CouponTemplate
from .models import STATUSES, Order, Shop
from .recall_models import RecallFlow
from .shipment_models import FINAL, Shipment
from .web import blp

PAGE = 50
SECTIONS = [
    ("ecommerce_web.orders", _l("Orders"), ("ecommerce.orders", "read")),
    ("ecommerce_web.coupons", _l("Coupons"), ("ecommerce.coupons", "read")),
    ("ecommerce_web.shipments", _l("Parcels"), ("ecommerce.shipments", "read")),
    ("ecommerce_web.recall_flows", _l("Recall flows"), ("ecommerce.recall", "read")),
    ("ecommerce_web.flash_sales", _l("Flash sales"), ("ecommerce.flash_sales", "read")),
    ("ecommerce_web.portrait_screen", _l("Customer portraits"), ("ecommerce.tag_rules", "read")),
]


def sections(actor) -> list[dict]:
    """The screens ``actor`` may open, in tab order."""
    return [
        {"endpoint": e, "label": label}
        for e, label, (resource, action) in SECTIONS
        if actor is not None and can(actor, resource, action)
    ]


@blp.app_context_processor
def _tabs():
    # the tab bar of every e-commerce screen
    return {"ecommerce_sections": lambda: sections(web_actor())}


@blp.route("/")
@login_required
def index():
    """The first screen the user may open (the menu entry lands here)."""
    allowed = sections(web_actor())
    if not allowed:
        require(web_actor(), "ecommerce.orders", "read")  # answers 403
    return redirect(url_for(allowed[0]["endpoint"]))


@blp.route("/orders")
@login_required
def orders():
    """Orders of the viewer's shops, newest first; filter by status, shop and number."""
    actor = web_actor()
    query = scoped(
        Order.select(Order, Shop.name.alias("shop_name")), actor, "ecommerce.orders", "read", model=Order
    )
    query = query.join(Shop, on=(Order.shop == Shop.id))
    status, shop, number = (
        request.args.get("status"),
        request.args.get("shop_id", ""),
        request.args.get("q", "").strip(),
    )
    if status in STATUSES:
        query = query.where(Order.status == status)
    if shop.isdigit():
        query = query.where(Order.shop == int(shop))
    if number:
        query = query.where((Order.number.contains(number)) | (Order.external_id == number))
    rows = list(query.order_by(Order.placed_at.desc(), Order.id.desc()).limit(PAGE).objects())
    shops = (
        list(scoped(Shop.select(), actor, "ecommerce.shops", "read"))
        if can(actor, "ecommerce.shops", "read")
        else []
    )
    return render_template(
        "ecommerce/orders.html", orders=rows, shops=shops, statuses=STATUSES, args=request.args
    )


@blp.route("/orders/<int:order_id>")
@login_required
def order(order_id):
    """One order: lines, refunds, status history and coupons (404 outside the viewer's scope)."""
    record = get_record(Order, order_id, web_actor(), "ecommerce.orders")
    return render_template("ecommerce/order.html", order=detail(record), shop=Shop.get_by_id(record.shop_id))


@blp.route("/coupons")
@login_required
def coupons():
    """Coupon templates with how many codes were issued and redeemed."""
    actor = web_actor()
    templates = list(
        scoped(CouponTemplate.select(), actor, "ecommerce.coupons", "read").order_by(CouponTemplate.id.desc())
    )
    ids = [t.id for t in templates] or [0]
    redeemed = dict(
        CouponRedemption.select(CouponRedemption.template, pw.fn.COUNT(CouponRedemption.id))
        .where(CouponRedemption.template.in_(ids), CouponRedemption.status == "redeemed")
        .group_by(CouponRedemption.template)
        .tuples()
    )
    codes = dict(
        CouponCode.select(CouponCode.template, pw.fn.COUNT(CouponCode.id))
        .where(CouponCode.template.in_(ids))
        .group_by(CouponCode.template)
        .tuples()
    )
    return render_template("ecommerce/coupons.html", templates=templates, redeemed=redeemed, codes=codes)


@blp.route("/shipments")
@login_required
def shipments():
    """Parcels: alerted ones first, then those still on their way."""
    actor = web_actor()
    query = scoped(Shipment.select(), actor, "ecommerce.shipments", "read")
    if request.args.get("open") != "0":
        query = query.where(Shipment.status.not_in(FINAL))
    rows = list(
        query.order_by(Shipment.alerted_at.desc(nulls="LAST"), Shipment.last_checkpoint_at.asc()).limit(PAGE)
    )
    return render_template("ecommerce/shipments.html", shipments=rows)


@blp.route("/recall")
@login_required
def recall_flows():
    """Recall flows with how their runs ended."""
    actor = web_actor()
    flows = list(scoped(RecallFlow.select(), actor, "ecommerce.recall", "read").order_by(RecallFlow.id))
    return render_template("ecommerce/recall.html", flows=[(f, recall.results(f.id)) for f in flows])
