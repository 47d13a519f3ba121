"""Privacy export and erasure of one customer, as API endpoints."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from .. import permissions
from ..auth import current_actor
from ..entities.models import Customer
from ..privacy import erase_customer, export_customer
from . import API_PREFIX, Blueprint

blp = Blueprint(
    "privacy", __name__, url_prefix=f"{API_PREFIX}/customers", description="Privacy: export and erasure"
)


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
