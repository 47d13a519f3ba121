"""Companies (dealer/distributor trees of any depth) and contacts linking customers to companies.

A company's ``path`` is the materialized path of ids from the root (``/1/4/9/``): a subtree is one
indexed prefix query, and moving a company rewrites its subtree's paths in one UPDATE.
"""

from __future__ import annotations

import peewee as pw
from flask.views import MethodView

from .. import permissions
from ..auth import current_actor
from ..entities.models import Company, Contact, Customer
from ..entities.refs import require_ref
from ..entities.schemas import CompanySchema, CompanyTreeSchema, ContactSchema
from ..errors import APIError
from . import API_PREFIX, Blueprint
from .crud import register_crud
from .responses import json_response

blp = Blueprint("companies", __name__, url_prefix=API_PREFIX, description="Companies and their trees")
contacts_blp = Blueprint(
    "contacts", __name__, url_prefix=API_PREFIX, description="Customers' roles at companies"
)


def _prefix(path: str):
    """Rows whose path starts with ``path`` (paths hold only digits and slashes: no escaping)."""
    return Company.path.startswith(path)


def place(record: Company, data: dict, before) -> None:
    """Check the parent (readable, no cycle) and compute the path when the id is known."""
    if before is not None and "parent_id" not in data:
        return
    parent = require_ref(Company, "companies", record.parent_id, "parent_id")
    if (
        parent is not None
        and record.id is not None
        and (parent.id == record.id or f"/{record.id}/" in parent.path)
    ):
        raise APIError(
            422, "A company cannot be placed under itself.", errors={"parent_id": ["Would make a cycle."]}
        )
    record._parent_path = parent.path if parent is not None else "/"
    if record.id is not None:
        record.path = f"{record._parent_path}{record.id}/"


def repath(record: Company, data: dict, before) -> None:
    """After saving: set the new row's path, or move the subtree of a re-parented company."""
    if before is None:
        record.path = f"{record._parent_path}{record.id}/"
        Company.update(path=record.path).where(Company.id == record.id).execute()
        return
    old = before.get("path") or ""
    if old and old != record.path:
        start = len(old) + 1
        Company.update(path=pw.Value(record.path).concat(pw.fn.SUBSTR(Company.path, start))).where(
            _prefix(old), Company.id != record.id
        ).execute()


def ancestor_filter(values: list[str]):
    """``ancestor=<id>``: every company below that one, at any depth."""
    try:
        ids = [int(v) for v in values]
    except ValueError:
        raise APIError(
            400, "Invalid query parameter 'ancestor'.", errors={"ancestor": ["Give a company id."]}
        ) from None
    paths = [p for (p,) in Company.select(Company.path).where(Company.id.in_(ids)).tuples()]
    if not paths:
        return pw.SQL("1 = 0")
    condition = None
    for path in paths:
        term = _prefix(path) & (Company.path != path)
        condition = term if condition is None else (condition | term)
    return condition


crud = register_crud(
    blp,
    "companies",
    Company,
    CompanySchema,
    search_fields=lambda: [Company.name, Company.industry, Company.phone, Company.email, Company.address],
    extra_filters={"ancestor": ancestor_filter},
    before_save=place,
    after_save=repath,
)


def build_tree(root: Company, rows: list[Company]) -> dict:
    """Nest ``rows`` (the readable part of root's subtree) under ``root``; a row whose parent is not
    readable hangs under its nearest readable ancestor."""
    nodes = {
        r.id: {"id": r.id, "name": r.name, "parent_id": r.parent_id, "children": []} for r in [root, *rows]
    }
    for row in sorted(rows, key=lambda r: (r.path.count("/"), r.name)):
        ancestors = [int(x) for x in row.path.strip("/").split("/")[:-1]]
        holder = next((nodes[a] for a in reversed(ancestors) if a in nodes), nodes[root.id])
        holder["children"].append(nodes[row.id])
    return nodes[root.id]


@blp.route("/companies/<int:record_id>/tree")
class CompanyTree(MethodView):
    @blp.response(200, CompanyTreeSchema)
    def get(self, record_id):
        """The company and every company below it (that you may read), nested by parent."""

        actor = current_actor()
        root = crud.get(record_id, actor)
        query = Company.select(Company.id, Company.name, Company.parent, Company.path).where(
            _prefix(root.path), Company.id != root.id
        )
        rows = list(
            permissions.scoped(query, actor, "companies", "read", model=Company).order_by(Company.path)
        )
        return json_response(CompanyTreeSchema().dump(build_tree(root, rows)))


def check_contact(record: Contact, data: dict, before) -> None:
    """Both ends must exist and be readable; one contact per customer and company."""
    if before is None or "customer_id" in data:
        require_ref(Customer, "customers", record.customer_id, "customer_id")
    if before is None or "company_id" in data:
        require_ref(Company, "companies", record.company_id, "company_id")
    query = Contact.select(Contact.id).where(
        Contact.customer == record.customer_id, Contact.company == record.company_id
    )
    if record.id is not None:
        query = query.where(Contact.id != record.id)
    existing = query.scalar()
    if existing is not None:
        actor = current_actor(required=False)
        if actor is None or not permissions.view(actor, "contacts").contains_id(Contact, existing):
            # the link exists, but the caller may not read it: no id
            raise APIError(
                409,
                "This customer is already a contact of this company.",
                errors={"company_id": ["Already linked."]},
            )
        raise APIError(
            409,
            "This customer is already a contact of this company.",
            errors={"company_id": [f"Already linked (contact {existing})."]},
            existing_id=existing,
        )


contacts_crud = register_crud(
    contacts_blp,
    "contacts",
    Contact,
    ContactSchema,
    search_fields=lambda: [Contact.role],
    before_save=check_contact,
)
