"""``/api/v1/warranty/warranties``: the collection (``register_crud``) and its ``claim`` action.

The claim is written with the documented write-path functions: the permission and row scope of
``warranty.warranties:claim`` on the record (``get_record``), the change and its audit entry
(``record_written`` with the record's ``record_dict`` before and after), the domain event
``warranty.claimed`` (``emit``), all in one transaction; the answer is masked by the caller's
field rules (``mask``).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from crm_core.plugin_api import (
    API_PREFIX,
    APIError,
    Blueprint,
    UTCDateTime,
    current_actor,
    emit,
    get_record,
    json_response,
    mask,
    record_dict,
    record_written,
    register_crud,
    utcnow,
    write_transaction,
)

from .models import ACTIVE, CLAIMED, STATUSES, Warranty

RESOURCE = "warranty.warranties"


class WarrantySchema(Schema):
    id = fields.Integer(dump_only=True)
    customer_id = fields.Integer(required=True)
    product = fields.String(required=True, validate=validate.Length(min=1, max=200))
    serial = fields.String(required=True, validate=validate.Length(min=1, max=100))
    expires_at = UTCDateTime(required=True)
    status = fields.String(dump_only=True, validate=validate.OneOf(STATUSES))
    claimed_at = UTCDateTime(dump_only=True, allow_none=True)
    claim_reason = fields.String(dump_only=True, allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    custom = fields.Dict()
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class ClaimSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


blp = Blueprint(
    "warranty", __name__, url_prefix=f"{API_PREFIX}/warranty", description="Product warranties and claims"
)
register_crud(
    blp,
    RESOURCE,
    Warranty,
    WarrantySchema,
    path="/warranties",
    search_fields=[Warranty.product, Warranty.serial],
)


@blp.route("/warranties/<int:warranty_id>/claim", methods=["POST"])
@blp.arguments(ClaimSchema)
@blp.response(200, WarrantySchema)
def claim(args, warranty_id):
    """Claim a warranty (``warranty.warranties:claim`` on it): once, and only before it expires."""
    actor = current_actor()
    with write_transaction():
        warranty = get_record(Warranty, warranty_id, actor, RESOURCE, "claim", lock=True)
        now = utcnow()
        if warranty.status != ACTIVE:
            raise APIError(409, f"This warranty is {warranty.status}; only an active one can be claimed.")
        if warranty.expires_at <= now:
            raise APIError(422, "This warranty has expired.")
        before = record_dict(warranty)
        warranty.status, warranty.claimed_at, warranty.claim_reason = CLAIMED, now, args["reason"]
        warranty.updated_at = now
        warranty.save()
        record_written("claim", RESOURCE, warranty, actor, before, record_dict(warranty))
        emit(
            "warranty.claimed",
            {
                "id": warranty.id,
                "customer_id": warranty.customer_id,
                "product": warranty.product,
                "reason": warranty.claim_reason,
                "owner_id": warranty.owner_id,
                "department_id": warranty.department_id,
            },
        )
    return json_response(mask(actor, RESOURCE, WarrantySchema().dump(warranty)))
