"""Privacy export, erasure and consent records of one customer, as API endpoints (tracked
requests are ``crm_core.api.privacy_requests``)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from .. import permissions
from ..audit import record_read
from ..auth import current_actor
from ..entities.models import Customer
from ..entities.schemas import BlankText, UTCDateTime
from ..privacy import erase_customer, export_customer
from ..privacy.consent import consent_dict, consents_of, record_consent
from ..privacy.models import CONSENT_STATUSES, LEGAL_BASES, PURPOSES, SOURCES
from . import API_PREFIX, Blueprint

blp = Blueprint(
    "privacy",
    __name__,
    url_prefix=f"{API_PREFIX}/customers",
    description="Privacy: export, erasure and consent records of a customer",
)
#: a purpose is one of ``PURPOSES`` or a plugin's own, spelled like a permission resource
PURPOSE_RE = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"


class ErasureSchema(Schema):
    id = fields.Integer()
    erased = fields.Dict(keys=fields.String(), values=fields.Integer())


@blp.route("/<int:customer_id>/privacy-export")
class PrivacyExport(MethodView):
    @blp.response(200)
    def get(self, customer_id):
        """Everything stored about one customer, core and plugins (needs customers:export)."""
        actor = current_actor()
        customer = permissions.get_record(Customer, customer_id, actor, "customers", "export")
        return export_customer(customer, actor)


@blp.route("/<int:customer_id>/erase")
class PrivacyErase(MethodView):
    @blp.response(200, ErasureSchema)
    def post(self, customer_id):
        """Anonymise a customer across core and plugins (needs customers:delete). Irreversible."""
        actor = current_actor()
        customer = permissions.get_record(Customer, customer_id, actor, "customers", "delete")
        return {"id": customer.id, "erased": erase_customer(customer, actor)}


class ConsentSchema(Schema):
    id = fields.Integer(dump_only=True)
    customer_id = fields.Integer(dump_only=True)
    purpose = fields.String(
        required=True,
        validate=[validate.Length(max=64), validate.Regexp(PURPOSE_RE)],
        metadata={"description": "one of " + ", ".join(PURPOSES) + ", or a plugin's (loyalty.sms)"},
    )
    legal_basis = fields.String(load_default="consent", validate=validate.OneOf(LEGAL_BASES))
    status = fields.String(required=True, validate=validate.OneOf(CONSENT_STATUSES))
    source = fields.String(load_default="other", validate=validate.OneOf(SOURCES))
    recorded_at = UTCDateTime(metadata={"description": "when it was given or withdrawn (default: now)"})
    recorded_by_id = fields.Integer(dump_only=True, allow_none=True)
    evidence = BlankText(
        load_default="",
        validate=validate.Length(max=2000),
        metadata={"description": "how it is known: form id, paper reference, wording shown"},
    )


@blp.route("/<int:customer_id>/consents")
class Consents(MethodView):
    @blp.response(200, ConsentSchema(many=True))
    def get(self, customer_id):
        """The customer's consent history, newest first; the newest record per purpose is what
        holds (needs privacy.consents:read and the customer readable)."""
        actor = current_actor()
        permissions.require(actor, "privacy.consents", "read")
        customer = permissions.get_record(Customer, customer_id, actor, "customers", "read")
        record_read(actor, "privacy.consents", customer.id, record=customer)  # a sensitive resource
        return [consent_dict(c) for c in consents_of(customer)]

    @blp.arguments(ConsentSchema)
    @blp.response(201, ConsentSchema)
    def post(self, data, customer_id):
        """Record that the customer gave or withdrew consent to a purpose (a withdrawal is a new
        record: the history is kept). Needs privacy.consents:create and customers:update on them."""
        actor = current_actor()
        permissions.require(actor, "privacy.consents", "create")
        customer = permissions.get_record(Customer, customer_id, actor, "customers", "update")
        record = record_consent(customer, actor, **data)
        return consent_dict(record)
