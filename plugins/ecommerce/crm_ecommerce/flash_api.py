"""The flash-sale API under ``/api/v1/ecommerce/flash-sales`` (resource ``ecommerce.flash_sales``).

Sales are a ``CrudView`` whose records carry ``reserved`` (live holds), ``sold`` (confirmed) and
``available`` as of the request. ``POST /flash-sales/<id>/reservations`` holds units for a
customer (``409`` when they are gone or the customer's limit is reached; a repeated ``key``
answers the first reservation with ``200``); ``POST /flash-sales/reservations/<id>/release``
gives them back. Payment confirms and cancellation releases on their own (the order's apply).
"""

from __future__ import annotations

import json

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
    readable_reference,
)

from . import flash
from .api import blp
from .flash_models import RESERVATION_STATES, FlashReservation, FlashSale

FLASH = flash.RESOURCE


class EcommerceFlashSaleSchema(Schema):
    """A flash sale: one SKU, its stock and price, its window and hold time, and its counts."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    shop_id = fields.Integer(allow_none=True, metadata={"description": "only this shop's orders confirm"})
    sku = fields.String(required=True, validate=validate.Length(min=1, max=100))
    price = fields.Decimal(required=True, as_string=True, places=2, validate=validate.Range(min=0))
    currency = fields.String(load_default="CNY", validate=validate.Length(equal=3))
    stock = fields.Integer(required=True, validate=validate.Range(min=0, max=10_000_000))
    per_customer_limit = fields.Integer(load_default=1, validate=validate.Range(min=0, max=10_000))
    hold_minutes = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=1, max=24 * 60),
        metadata={"description": "minutes a reservation holds; empty: ECOMMERCE_HOLD_MINUTES"},
    )
    starts_at = UTCDateTime(required=True)
    ends_at = UTCDateTime(required=True)
    active = fields.Boolean(load_default=True)
    reserved = fields.Integer(dump_only=True, metadata={"description": "units held with time left"})
    sold = fields.Integer(dump_only=True, metadata={"description": "units confirmed by payment"})
    available = fields.Integer(dump_only=True)
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict()
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)

    @validates_schema
    def _window(self, data, **kwargs):
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError({"ends_at": [_l("Must be after the start.")]})


class EcommerceReserveSchema(Schema):
    """What a reservation holds, and for whom."""

    customer_id = fields.Integer(required=True)
    quantity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1000))
    order_id = fields.Integer(allow_none=True, metadata={"description": "the order that will pay it"})
    key = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "idempotency key: the same key answers the first reservation"},
    )


class EcommerceReservationSchema(Schema):
    """A reservation and its state (``held`` counts only until ``expires_at``)."""

    id = fields.Integer(dump_only=True)
    sale_id = fields.Integer(dump_only=True)
    customer_id = fields.Integer(dump_only=True)
    quantity = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(RESERVATION_STATES)})
    expires_at = UTCDateTime(dump_only=True)
    order_id = fields.Integer(dump_only=True, allow_none=True)
    key = fields.String(dump_only=True, allow_none=True)
    finished_at = UTCDateTime(dump_only=True)
    created_at = UTCDateTime(dump_only=True)


class Sales(CrudView):
    """Flash sales with their live counts."""

    resource, model, schema = FLASH, FlashSale, EcommerceFlashSaleSchema
    path, name, description = "/flash-sales", "flash_sales", "flash sales"
    search_fields = [FlashSale.name, FlashSale.sku]
    prefetch = staticmethod(flash.attach_counts)


Sales.mount(blp)


def _reservation(data: dict, status: int):
    return json_response(EcommerceReservationSchema().dump(data), status)


@blp.route("/flash-sales/<int:sale_id>/reservations")
class Reservations(MethodView):
    """A sale's reservations; reserve units."""

    def get(self, sale_id):
        """Newest first; ``status`` filters (``held`` includes holds whose time ran out until
        the job marks them)."""
        actor = current_actor()
        get_record(FlashSale, sale_id, actor, FLASH)
        query = FlashReservation.select().where(FlashReservation.sale == sale_id)
        if request.args.get("status"):
            query = query.where(FlashReservation.status == request.args["status"])
        query = query.order_by(FlashReservation.id.desc())
        page, page_size = page_params(request.args)
        total = query.count()
        rows = EcommerceReservationSchema(many=True).dump(query.paginate(page, page_size))
        return json_response(
            rows, 200, {"X-Pagination": json.dumps(pagination_header(total, page, page_size))}
        )

    @blp.arguments(EcommerceReserveSchema)
    @blp.response(201, EcommerceReservationSchema)
    @blp.alt_response(409, description="Sold out, the sale is not open, or the customer's limit")
    def post(self, data, sale_id):
        """Hold ``quantity`` units for the customer for the sale's hold time."""
        actor = current_actor()
        sale = get_record(FlashSale, sale_id, actor, FLASH, "reserve")
        readable_reference(Customer, data["customer_id"], actor, "customers", "customer_id")
        reservation, created = flash.reserve(
            sale, data["customer_id"], data["quantity"], actor, data.get("order_id"), data.get("key")
        )
        return _reservation(reservation, 201 if created else 200)


@blp.route("/flash-sales/reservations/<int:reservation_id>/release")
class ReleaseReservation(MethodView):
    """Give a reservation's units back."""

    @blp.response(200, EcommerceReservationSchema)
    def post(self, reservation_id):
        """Release a held or confirmed reservation (a finished one answers as it is)."""
        actor = current_actor()
        reservation = FlashReservation.get_or_none(FlashReservation.id == reservation_id)
        if reservation is None:
            get_record(FlashSale, 0, actor, FLASH, "reserve")  # the usual 404
        get_record(FlashSale, reservation.sale_id, actor, FLASH, "reserve")
        return _reservation(flash.release(reservation_id, actor), 200)
