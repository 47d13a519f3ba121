"""The company page: its people (customers linked as contacts, with their role there), its deals,
and the dealer/distributor network it belongs to drawn as a tree; linking a customer to a company
from either side.

Everything is read with the viewer's permissions: contacts, customers, deals and the companies of
the network each through ``permissions.scoped`` / ``listing.list_query`` on their own resource and
dumped through their ``Crud`` (masked), so a company the viewer may not read is neither drawn nor
named, and a customer's hidden name is never shown. Links are made and removed through
``crm_core.records.service`` with the contacts collection's own checks (both ends readable, one
link per pair), so they are audited like API writes.
"""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from .. import permissions
from ..api.companies import build_tree
from ..db import database
from ..entities.models import Company, Contact, Customer
from ..entities.schemas import ContactSchema
from ..errors import APIError
from ..records import listing, service
from .blueprint import bp
from .forms import flatten_messages
from .registry import cruds, fields_for, get_resource
from .session import login_required

#: Roles offered when linking a customer to a company (any other text is accepted too).
SUGGESTED_ROLES = ("采购", "决策人", "财务", "店长", "老板", "技术", "Buyer", "Decision maker", "Finance")

#: Most companies drawn in one network graph (a bigger network is cut at this many, noted below it).
GRAPH_LIMIT = 200
#: Most members named in a node's tooltip.
TOOLTIP_MEMBERS = 8
#: Most customers offered when searching for one to link.
FIND_LIMIT = 10

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 168, 46, 16, 36, 8


def _readable(resource: str, actor) -> bool:
    return resource in cruds() and permissions.can(actor, resource, "read")


def contacts_of(actor, *, company_id: int | None = None, customer_id: int | None = None) -> list[dict]:
    """The contacts of a company (or of a customer) the viewer may read, whose other end the viewer
    may read too: ``[{"id", "role", "is_primary", "customer": {...}, "company": {...}, "can_delete"}]``
    with both ends dumped through their collections (masked)."""
    if not all(_readable(r, actor) for r in ("contacts", "customers", "companies")):
        return []
    query = Contact.select()
    if company_id is not None:
        query = query.where(Contact.company == company_id)
    if customer_id is not None:
        query = query.where(Contact.customer == customer_id)
    customers = permissions.scoped(Customer.select(Customer.id), actor, "customers", "read", model=Customer)
    companies = permissions.scoped(Company.select(Company.id), actor, "companies", "read", model=Company)
    query = query.where(Contact.customer.in_(customers), Contact.company.in_(companies))
    links = list(
        permissions.scoped(query, actor, "contacts", "read", model=Contact)
        .order_by(Contact.is_primary.desc(), Contact.id)
        .limit(500)
    )
    if not links:
        return []
    people = _dumped("customers", Customer, {c.customer_id for c in links}, actor)
    firms = _dumped("companies", Company, {c.company_id for c in links}, actor)
    dumped = get_resource("contacts").crud.dump(links, actor)
    out = []
    for link, data in zip(links, dumped, strict=True):
        out.append(
            {
                "id": link.id,
                "role": data.get("role"),
                "is_primary": data.get("is_primary"),
                "customer": people.get(link.customer_id, {"id": link.customer_id}),
                "company": firms.get(link.company_id, {"id": link.company_id}),
                "can_delete": permissions.can(actor, "contacts", "delete", link),
                "can_update": permissions.can(actor, "contacts", "update", link),
            }
        )
    return out


def _dumped(resource: str, model, ids, actor) -> dict[int, dict]:
    """``{id: masked dump}`` of the readable ``model`` rows among ``ids``."""
    if not ids:
        return {}
    query = permissions.scoped(
        model.select().where(model.id.in_(list(ids))), actor, resource, "read", model=model
    )
    rows = list(query)
    return {d["id"]: d for d in get_resource(resource).crud.dump(rows, actor)}


def related_deals(company_id: int, actor, limit: int = 20) -> dict | None:
    """The newest deals of the company the viewer may read (masked), or None when deals are not
    readable at all."""
    if not _readable("deals", actor):
        return None
    res = get_resource("deals")
    args = MultiDict({"company_id": str(company_id), "page_size": str(limit)})
    try:
        rows, total = listing.list_query(res.model, "deals", args, actor, **res.list_options())
    except APIError:
        return None
    skip = ("company_id", "id", "created_at", "updated_at", "department_id", "custom")
    fields = [f for f in fields_for(res, actor) if f.name not in skip][:6]
    return {"res": res, "records": res.crud.dump(list(rows), actor), "total": total, "fields": fields}


# --- the network -------------------------------------------------------------------------------------


def network(company, actor) -> dict:
    """The readable dealer/distributor tree ``company`` belongs to: rooted at its highest readable
    ancestor, every readable company below that (a company whose parent the viewer may not read
    hangs under its nearest readable ancestor), cut at ``GRAPH_LIMIT`` companies.
    ``{"root": nested node, "count", "cut", "ancestors": [{id, name}]}``."""
    ids = [int(x) for x in (company.path or f"/{company.id}/").strip("/").split("/") if x]
    readable = permissions.scoped(
        Company.select(Company.id, Company.name, Company.parent, Company.path),
        actor,
        "companies",
        "read",
        model=Company,
    )
    chain = {c.id: c for c in readable.where(Company.id.in_(ids))}
    root = next((chain[i] for i in ids if i in chain), company)
    rows = list(
        readable.where(Company.path.startswith(root.path), Company.id != root.id)
        .order_by(Company.path)
        .limit(GRAPH_LIMIT)
    )
    total_below = readable.where(Company.path.startswith(root.path), Company.id != root.id).order_by().count()
    tree = build_tree(root, rows)
    ancestors = [{"id": i, "name": chain[i].name} for i in ids[:-1] if i in chain]
    return {"root": tree, "count": len(rows) + 1, "cut": total_below > len(rows), "ancestors": ancestors}


def _members(actor, company_ids) -> dict[int, list[dict]]:
    """Readable contacts of each company among ``company_ids``: ``{company_id: [{name, role}]}``."""
    if not company_ids:
        return {}
    if not all(_readable(r, actor) for r in ("contacts", "customers")):
        return {}
    customers = permissions.scoped(Customer.select(Customer.id), actor, "customers", "read", model=Customer)
    links = list(
        permissions.scoped(
            Contact.select().where(Contact.company.in_(list(company_ids)), Contact.customer.in_(customers)),
            actor,
            "contacts",
            "read",
            model=Contact,
        ).limit(2000)
    )
    people = _dumped("customers", Customer, {c.customer_id for c in links}, actor)
    dumped = get_resource("contacts").crud.dump(links, actor) if links else []
    out: dict[int, list[dict]] = {}
    for link, data in zip(links, dumped, strict=True):
        person = people.get(link.customer_id, {})
        out.setdefault(link.company_id, []).append(
            {"name": person.get("name") or f"#{link.customer_id}", "role": data.get("role") or ""}
        )
    return out


def _layout(node: dict, depth: int, next_x: list, placed: list) -> float:
    """Place ``node`` and its children: leaves left to right, a parent centred over its children.
    Returns the node's x (in columns); ``placed`` collects ``(node, x, depth)``."""
    kids = node.get("children") or []
    if not kids:
        x = next_x[0]
        next_x[0] += 1
    else:
        xs = [_layout(k, depth + 1, next_x, placed) for k in kids]
        x = (xs[0] + xs[-1]) / 2
    placed.append((node, x, depth))
    node["_x"], node["_depth"] = x, depth
    return x


def _short(text: str, limit: int = 14) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def network_svg(net: dict, current_id: int, members: dict[int, list[dict]]) -> Markup:
    """The network as an inline SVG (drawn on the server: no script, no CDN): one box per
    company linked to its page, lines from each parent to its children, the current company
    marked, each box saying how many contacts it has and naming them in its tooltip."""
    placed: list = []
    _layout(net["root"], 0, [0], placed)
    columns = max(x for _n, x, _d in placed) + 1
    depth = max(d for _n, _x, d in placed) + 1
    width = int(columns * (NODE_W + GAP_X) - GAP_X + 2 * PAD)
    height = int(depth * (NODE_H + GAP_Y) - GAP_Y + 2 * PAD)

    def left(x):
        return PAD + x * (NODE_W + GAP_X)

    def top(d):
        return PAD + d * (NODE_H + GAP_Y)

    label = escape(_("Company network"))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="crm-network" id="company-network" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{label}">'
    ]
    for node, x, d in placed:
        for child in node.get("children") or []:
            x1, y1 = left(x) + NODE_W / 2, top(d) + NODE_H
            x2, y2 = left(child["_x"]) + NODE_W / 2, top(child["_depth"])
            mid = (y1 + y2) / 2
            parts.append(
                f'<path class="crm-network-link" d="M{x1:.0f},{y1:.0f} V{mid:.0f} H{x2:.0f} V{y2:.0f}"/>'
            )
    for node, x, d in placed:
        people = members.get(node["id"], [])
        count = ngettext("%(num)s contact", "%(num)s contacts", len(people))
        tip = [node["name"], *[f"{p['name']}{' · ' + p['role'] if p['role'] else ''}" for p in people]]
        if len(people) > TOOLTIP_MEMBERS:
            tip = tip[: TOOLTIP_MEMBERS + 1] + ["…"]
        css = "crm-network-node crm-network-current" if node["id"] == current_id else "crm-network-node"
        href = url_for("web.record_detail", resource="companies", record_id=node["id"])
        lx, ty = left(x), top(d)
        parts.append(
            f'<a href="{escape(href)}" class="{css}" data-company="{node["id"]}">'
            f"<title>{escape(chr(10).join(tip))}</title>"
            f'<rect x="{lx:.0f}" y="{ty:.0f}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text x="{lx + NODE_W / 2:.0f}" y="{ty + 19:.0f}" class="crm-network-name">'
            f"{escape(_short(node['name']))}</text>"
            f'<text x="{lx + NODE_W / 2:.0f}" y="{ty + 36:.0f}" class="crm-network-count">{escape(count)}</text>'
            "</a>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _walk(node: dict):
    yield node
    for child in node.get("children") or []:
        yield from _walk(child)


def company_context(company, actor, data: dict) -> dict:
    """Template variables of the company page beyond the profile itself."""
    net = network(company, actor)
    nodes = list(_walk(net["root"]))
    members = _members(actor, [n["id"] for n in nodes])
    find = request.args.get("find", "").strip()[:100]
    return {
        "contacts": contacts_of(actor, company_id=company.id),
        "deals": related_deals(company.id, actor),
        "net": net,
        "network_svg": network_svg(net, company.id, members),
        "subsidiaries": [n for n in nodes if n.get("parent_id") == company.id],
        "can_link": permissions.can(actor, "contacts", "create") and _readable("customers", actor),
        "can_create_deal": permissions.can(actor, "deals", "create"),
        "can_create_company": permissions.can(actor, "companies", "create"),
        "find": find,
        "found": _find_customers(actor, find) if find else [],
        "roles": SUGGESTED_ROLES,
    }


def _find_customers(actor, text: str) -> list[dict]:
    """Up to ``FIND_LIMIT`` readable customers matching ``text`` (only in columns the viewer may
    see: ``listing.list_query`` searches through the viewer's view), masked."""
    res = get_resource("customers")
    try:
        rows, _total = listing.list_query(
            res.model,
            "customers",
            MultiDict({"q": text, "page_size": str(FIND_LIMIT)}),
            actor,
            **res.list_options(),
        )
    except APIError:
        return []
    return res.crud.dump(list(rows), actor)


# --- linking -----------------------------------------------------------------------------------------


def _link(actor, customer_id, company_id, role: str, primary: bool):
    """Create the contact through the write path with the contacts collection's checks."""
    crud = get_resource("contacts").crud
    data = ContactSchema().load(
        {"customer_id": customer_id, "company_id": company_id, "role": role, "is_primary": primary}
    )
    return service.create("contacts", crud.model, data, actor, **crud.write_options)


def _link_error(exc) -> str:
    if isinstance(exc, ValidationError):
        messages = flatten_messages(exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages})
    else:
        messages = flatten_messages(exc.data.get("errors") or {})
    details = " ".join(str(m) for msgs in messages.values() for m in msgs)
    if isinstance(exc, APIError) and exc.code == 409:
        return _("This customer is already a contact of this company.")
    return (_("The link could not be made.") + " " + details).strip()


@bp.route("/records/companies/<int:company_id>/contacts", methods=["POST"])
@login_required
def company_link_customer(company_id):
    """Link a customer to this company with a role (``contacts:create``, both readable)."""
    actor = g.actor
    company = get_resource("companies").crud.get(company_id, actor)
    back = url_for("web.record_detail", resource="companies", record_id=company.id)
    try:
        customer_id = int(request.form.get("customer_id", ""))
    except ValueError:
        flash(_("Choose a customer."), "error")
        return redirect(back)
    try:
        _link(
            actor,
            customer_id,
            company.id,
            request.form.get("role", "").strip(),
            bool(request.form.get("is_primary")),
        )
    except (APIError, ValidationError) as exc:
        if isinstance(exc, APIError) and exc.code not in (403, 409, 422):
            raise
        flash(_link_error(exc), "error")
    else:
        flash(_("Contact added."), "success")
    return redirect(back)


@bp.route("/records/customers/<int:customer_id>/companies", methods=["POST"])
@login_required
def customer_link_company(customer_id):
    """Link this customer to a company chosen by name among the companies the user may read."""
    actor = g.actor
    customer = get_resource("customers").crud.get(customer_id, actor)
    back = url_for("web.record_detail", resource="customers", record_id=customer.id)
    name = request.form.get("company", "").strip()
    matches = list(
        permissions.scoped(
            Company.select(Company.id).where(Company.name == name), actor, "companies", "read", model=Company
        ).limit(2)
    )
    if len(matches) != 1:
        flash(
            _("No company is called %(name)s.", name=name)
            if not matches
            else _("Several companies are called %(name)s; link from the company's page.", name=name),
            "error",
        )
        return redirect(back)
    try:
        _link(actor, customer.id, matches[0].id, request.form.get("role", "").strip(), False)
    except (APIError, ValidationError) as exc:
        if isinstance(exc, APIError) and exc.code not in (403, 409, 422):
            raise
        flash(_link_error(exc), "error")
    else:
        flash(_("Contact added."), "success")
    return redirect(back)


@bp.route("/contacts/<int:contact_id>/role", methods=["POST"])
@login_required
def contact_role(contact_id):
    """Change a contact's role (and whether they are the primary contact) at the company, through
    the write path (``contacts:update`` on that link)."""
    actor = g.actor
    crud = get_resource("contacts").crud
    contact = crud.get(contact_id, actor, "update")
    back = url_for("web.record_detail", resource="companies", record_id=contact.company_id)
    try:
        data = ContactSchema(partial=True).load(
            {"role": request.form.get("role", "").strip(), "is_primary": bool(request.form.get("is_primary"))}
        )
        with database.atomic():
            service.update("contacts", contact, data, actor, **crud.write_options)
    except (APIError, ValidationError) as exc:
        if isinstance(exc, APIError) and exc.code not in (409, 422):
            raise
        flash(_link_error(exc), "error")
    else:
        flash(_("Contact saved."), "success")
    return redirect(back + "#contacts")


@bp.route("/contacts/<int:contact_id>/delete", methods=["POST"])
@login_required
def contact_delete(contact_id):
    """Remove a customer's link to a company (``contacts:delete`` on that link)."""
    actor = g.actor
    crud = get_resource("contacts").crud
    contact = crud.get(contact_id, actor, "delete")
    back = request.form.get("back", "")
    service.delete("contacts", contact, actor, serialize=crud.write_options.get("serialize"))
    flash(_("Contact removed."), "success")
    if back == "customer":
        return redirect(url_for("web.record_detail", resource="customers", record_id=contact.customer_id))
    return redirect(url_for("web.record_detail", resource="companies", record_id=contact.company_id))


@bp.app_template_global("customer_companies")
def customer_companies(customer_id: int) -> list[dict]:
    """The companies a customer is a contact of, as the current user may see them (the customer
    page's panel)."""
    actor = g.get("actor")
    if actor is None:
        return []
    return contacts_of(actor, customer_id=customer_id)


@bp.app_template_global("linkable_companies")
def linkable_companies(limit: int = 200) -> list[str]:
    """Names of companies the current user may read, for the link form's suggestions."""
    actor = g.get("actor")
    if actor is None or not _readable("companies", actor):
        return []
    query = permissions.scoped(Company.select(Company.name), actor, "companies", "read", model=Company)
    return [name for (name,) in query.order_by(Company.name).limit(limit).tuples()]


@bp.app_template_global("can_link_contacts")
def can_link_contacts() -> bool:
    """True when the current user may link customers to companies."""
    actor = g.get("actor")
    return (
        actor is not None and permissions.can(actor, "contacts", "create") and _readable("companies", actor)
    )


@bp.app_template_global("contact_roles")
def contact_roles() -> tuple[str, ...]:
    """Roles suggested when linking a customer to a company."""
    return SUGGESTED_ROLES
