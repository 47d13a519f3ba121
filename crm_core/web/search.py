"""Global search (the box in the top bar): customers, companies, deals and tickets at once.

Each collection is searched with ``listing.list_query`` under the searcher's own
``permissions.view``: rows outside their read scope are never matched, the text is looked for
only in columns ``View.searchable`` allows (never a hidden or secret field, so a match cannot
reveal a value the searcher may not see), and the hits are dumped through the collection's
``Crud`` (masked). A collection the searcher may not read is skipped.
"""

from __future__ import annotations

from flask import g, render_template, request
from werkzeug.datastructures import MultiDict

from .. import permissions
from ..errors import APIError
from ..records import listing
from .blueprint import bp
from .registry import cruds, fields_for, get_resource
from .session import login_required

#: What the top bar searches, in the order of the results page.
SEARCHED = ("customers", "companies", "deals", "tickets")
#: Hits shown per collection (the group links to the full list for the rest).
PER_GROUP = 10
#: Longest search text taken.
MAX_QUERY = 100
#: Columns shown under a hit's title, per collection (only those the searcher may see).
DETAILS = {
    "customers": ("phone", "email", "lifecycle_stage"),
    "companies": ("industry", "phone", "address"),
    "deals": ("stage_id", "amount", "status"),
    "tickets": ("status", "priority", "customer_id"),
}


def title_of(record: dict) -> str:
    """What names a hit: its name, title or subject, else its id."""
    return str(record.get("name") or record.get("title") or record.get("subject") or f"#{record.get('id')}")


def search_group(resource: str, text: str, actor, limit: int = PER_GROUP) -> dict | None:
    """The hits of ``text`` in ``resource`` that ``actor`` may read: ``{"res", "records", "total",
    "fields"}``, or None when the collection is absent, not readable or has nothing searchable."""
    if resource not in cruds() or not permissions.can(actor, resource, "read"):
        return None
    res = get_resource(resource)
    args = MultiDict({"q": text, "page_size": str(limit)})
    try:
        rows, total = listing.list_query(res.model, resource, args, actor, **res.list_options())
    except APIError as exc:
        if exc.code in (400, 403):  # nothing searchable for this user, or no read at all
            return None
        raise
    wanted = DETAILS.get(resource, ())
    fields = [f for f in fields_for(res, actor) if f.name in wanted]
    fields.sort(key=lambda f: wanted.index(f.name))
    return {"res": res, "records": res.crud.dump(list(rows), actor), "total": total, "fields": fields}


@bp.route("/search")
@login_required
def global_search():
    """Results of the top bar's search, grouped by collection."""
    actor = g.actor
    text = request.args.get("q", "").strip()[:MAX_QUERY]
    groups = []
    if text:
        for resource in SEARCHED:
            group = search_group(resource, text, actor)
            if group is not None:
                groups.append(group)
    return render_template(
        "crm/search.html",
        q=text,
        groups=groups,
        hits=sum(gr["total"] for gr in groups),
        title_of=title_of,
    )
