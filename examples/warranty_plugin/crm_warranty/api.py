"""``/api/v1/warranty/warranties``: the collection (``register_crud``) and its ``claim`` action
(``register_action``: the CRUD endpoints' permission, scope, lock, audit, event and masking)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from crm_core.plugin_api import (
    API_PREFIX,
    APIError,
    Blueprint,
    UTCDateTime,
    register_action,
    register_crud,
    utcnow,
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
crud = register_crud(
    blp,
    RESOURCE,
    Warranty,
    WarrantySchema,
    path="/warranties",
    search_fields=[Warranty.product, Warranty.serial],
)


def claim(record, data, actor):
    """Claim a warranty: once, and only before it expires (409 when it is not active, 422 when
    it has expired)."""
    now = utcnow()
    if record.status != ACTIVE:
        raise APIError(409, f"This warranty is {record.status}; only an active one can be claimed.")
    if record.expires_at <= now:
        raise APIError(422, "This warranty has expired.")
    return {"status": CLAIMED, "claimed_at": now, "claim_reason": data["reason"]}


# POST /api/v1/warranty/warranties/<id>/claim: the grant warranty.warranties:claim on the record,
# its row lock, one audit entry (action "claim") and one event (warranty.warranties.claim)
register_action(crud, "claim", claim, schema=ClaimSchema)
