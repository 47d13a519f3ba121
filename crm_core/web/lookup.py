"""Names of referenced records, and the search-as-you-type pickers that choose them.

Pages show a reference (``owner_id``, ``customer_id``, ``department_id``, a plugin's ``tier_id`` or
a custom reference field) by the name of what it points to, never by its id, and forms choose it
with a picker (``static/crm/picker.js``) fed by ``GET /lookup/<target>?q=``.

Both read through :mod:`crm_core.records.references` (``readable``), that is through
``crm_core.permissions``: a name or a picker entry is only ever one of a record the viewer may
read, and a column hidden from the viewer (a customer's phone) is neither shown as a hint nor
searched. Names are loaded in one query per target for a whole page (:func:`prime`); a record
outside the viewer's scope is shown as its bare id, which the referring record already carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee as pw
from flask import g, has_request_context, jsonify, request, url_for
from markupsafe import Markup, escape

from .. import permissions
from ..auth.models import Department
from ..entities.models import Pipeline, Stage
from ..errors import APIError
from ..permissions.decision import secret_columns
from ..permissions.fields import mask_value
from ..records import references
from .blueprint import bp
from .registry import NOT_GENERIC, cruds
from .session import login_required, web_actor

#: Largest answer of the picker endpoint.
PICKER_LIMIT = 20

#: Columns that name a record, in order of preference, for targets without a spec of their own.
LABEL_COLUMNS = ("name", "title", "subject", "code", "member_no", "username")


@dataclass(frozen=True)
class Spec:
    """How one target is named and searched: ``label`` columns (the first non-empty one names the
    record), ``hint`` columns (shown under the name in the picker), ``search`` columns."""

    label: tuple[str, ...] = LABEL_COLUMNS
    hint: tuple[str, ...] = ()
    search: tuple[str, ...] = LABEL_COLUMNS


SPECS = {
    "users": Spec(label=("name", "username"), hint=("username",), search=("name", "username")),
    "customers": Spec(label=("name",), hint=("phone", "email"), search=("name", "phone", "email")),
    "companies": Spec(label=("name",), hint=("industry",), search=("name",)),
    "departments": Spec(label=("name",), search=("name",)),
    "pipelines": Spec(label=("name",), search=("name",)),
    "stages": Spec(label=("name",), search=("name",)),
}


def spec_of(target: str) -> Spec:
    """The naming/search spec of ``target``."""
    return SPECS.get(target, Spec())


def _columns(model, actor, target: str, names, search: bool = False) -> list[pw.Field]:
    """The columns of ``model`` among ``names`` that ``actor`` may see (never a secret one); with
    ``search``, only those a search may touch (never a masked one: a prefix would recover it)."""
    secrets = secret_columns(model)
    out = []
    for name in names:
        field = model._meta.fields.get(name)
        if field is None or name in secrets or not references.visible(actor, target, name):
            continue
        out.append(field)
    if search and target not in references.CONFIGURATION:
        out = permissions.view(actor, target).searchable(out, model)
    return out


def _masked(actor, target: str) -> frozenset[str]:
    """The columns of ``target`` shown to ``actor`` only partly (``permissions.mask_value``)."""
    return frozenset() if target in references.CONFIGURATION else permissions.view(actor, target).masked


def _label(row: dict, columns: list[pw.Field]) -> str:
    for column in columns:
        value = row.get(column.name)
        if value not in (None, ""):
            return str(value)
    return ""


def _department_names(actor, rows: list[dict]) -> dict:
    """``{id: "总部 / 华东 / 上海"}``: each department named by its path of readable ancestors."""
    ancestor_ids = set()
    for row in rows:
        ancestor_ids.update(int(part) for part in (row.get("path") or "").strip("/").split("/") if part)
    names = {}
    if ancestor_ids and references.visible(actor, "departments", "name"):
        query = references.readable(
            actor, "departments", Department, Department.select(Department.id, Department.name)
        )
        names = dict(query.where(Department.id.in_(sorted(ancestor_ids))).tuples())
    out = {}
    for row in rows:
        chain = [int(p) for p in (row.get("path") or "").strip("/").split("/") if p] or [row["id"]]
        parts = [names[i] for i in chain if names.get(i)]
        out[row["id"]] = " / ".join(parts) if parts else ""
    return out


def _rows(actor, target: str, model, query_filter=None, ids=None, q: str = "", limit: int | None = None):
    """Readable rows of ``target`` as dicts with their label and hint columns."""
    spec = spec_of(target)
    pk = model._meta.primary_key
    label_cols = _columns(model, actor, target, spec.label)
    hint_cols = _columns(model, actor, target, spec.hint)
    extra = [model._meta.fields["path"]] if target == "departments" else []
    selected = list(dict.fromkeys([pk, *label_cols, *hint_cols, *extra]))
    query = references.readable(actor, target, model, model.select(*selected))
    if ids is not None:
        query = query.where(pk.in_(sorted(ids)))
    if query_filter is not None:
        query = query.where(query_filter)
    if target == "users" and limit is not None:  # a picker offers active users; names show all
        query = query.where(model.is_active == True)  # noqa: E712  (SQL, not Python)
    if q:
        terms = [c.contains(q) for c in _columns(model, actor, target, spec.search, search=True)]
        if q.isdigit() and len(q) <= 18:  # an id (never one past 64 bits: SQLite cannot bind it)
            terms.append(pk == int(q))
        if not terms:
            return [], label_cols, hint_cols
        cond = terms[0]
        for term in terms[1:]:
            cond = cond | term
        query = query.where(cond)
    if limit is not None:
        order = label_cols[0] if label_cols else pk
        query = query.order_by(order, pk).limit(limit)
    return list(query.dicts()), label_cols, hint_cols


def _entries(actor, target: str, model, rows, label_cols, hint_cols) -> list[dict]:
    pk = model._meta.primary_key.name
    out = []
    dept_names = _department_names(actor, rows) if target == "departments" else {}
    masked = _masked(actor, target)
    if masked:
        rows = [{k: mask_value(k, v) if k in masked else v for k, v in row.items()} for row in rows]
    for row in rows:
        record_id = row[pk]
        label = dept_names.get(record_id) if target == "departments" else _label(row, label_cols)
        hint = " · ".join(str(row[c.name]) for c in hint_cols if row.get(c.name) not in (None, ""))
        if hint == label:
            hint = ""
        out.append({"id": record_id, "label": label or f"#{record_id}", "hint": hint})
    return out


def labels(actor, target: str, ids) -> dict:
    """``{id: name}`` of the records of ``target`` among ``ids`` that ``actor`` may read (one query;
    departments two, for their path)."""
    model = references.target_model(target)
    wanted = set()
    for value in ids:
        try:
            wanted.add(int(value))
        except (TypeError, ValueError):
            continue
    if model is None or not wanted or actor is None or not references.can_read(actor, target):
        return {}
    rows, label_cols, hint_cols = _rows(actor, target, model, ids=wanted)
    return {e["id"]: e["label"] for e in _entries(actor, target, model, rows, label_cols, hint_cols)}


def search(
    actor,
    target: str,
    q: str = "",
    filters: dict | None = None,
    limit: int = PICKER_LIMIT,
    assign: str | None = None,
):
    """Up to ``limit`` readable records of ``target`` matching ``q``: ``[{id, label, hint}]``.

    ``filters`` narrows by a reference column of the target (stages by ``pipeline_id``);
    ``assign`` (users only: a resource) to the users ``actor`` may make owner of its records
    (``permissions.assignable_owners``), so an owner picker offers only owners the write takes."""
    model = references.target_model(target)
    if model is None:
        raise APIError(404, f"No collection {target!r}.")
    if not references.can_read(actor, target):
        raise APIError(403, f"Not allowed: {target}:read.")
    cond = None
    for name, value in (filters or {}).items():
        field = _column(model, name)
        if field is None or not references.visible(actor, target, name):
            continue
        text = str(value).strip()
        if not text.isdigit() or len(text) > 18:
            continue
        term = field == int(text)
        cond = term if cond is None else (cond & term)
    if assign and target == "users":
        term = permissions.assignable_owners(actor, assign)
        if term is not None:
            cond = term if cond is None else (cond & term)
    rows, label_cols, hint_cols = _rows(actor, target, model, cond, q=q.strip()[:100], limit=limit)
    return _entries(actor, target, model, rows, label_cols, hint_cols)


def _column(model, api_name: str):
    for name, field in model._meta.fields.items():
        if api_name in (name, field.column_name):
            return field
    return None


#: Query parameters of the picker endpoint that narrow by a column of the target.
FILTER_PARAMS = ("pipeline_id",)


@bp.route("/lookup/<target>")
@login_required
def lookup(target):
    """The picker's answers as JSON: ``{"results": [{"id", "label", "hint"}]}`` for records of
    ``target`` the user may read, matching ``q`` (name, and the columns the user may see);
    ``assign=<resource>`` keeps the users the user may assign its records to."""
    actor = g.actor
    filters = {k: request.args[k] for k in FILTER_PARAMS if request.args.get(k)}
    results = search(actor, target, request.args.get("q", ""), filters, assign=request.args.get("assign"))
    return jsonify({"results": results})


# --- names in pages ---------------------------------------------------------------------------


def _cache() -> dict:
    """This request's names, for this viewer. ``g`` can outlive a request (an app context pushed
    around several, as in tests or embedding), so the cache is tied to the request and to the
    viewer's identity: a name read for one user is never shown to another."""
    actor = web_actor()
    scopes = getattr(actor, "scopes", None)
    owner = (
        id(request._get_current_object()) if has_request_context() else None,
        getattr(actor, "id", None),
        getattr(actor, "roles", None),
        None if scopes is None else frozenset(scopes),
    )
    held = g.get("_crm_ref_labels")
    if held is None or held[0] != owner:
        held = g._crm_ref_labels = (owner, {})
    return held[1]


def prime(fields, records) -> None:
    """Load the names of every reference shown in ``records`` (dumped dicts) by ``fields``: one
    query per target for the whole page instead of one per row."""
    actor = web_actor()
    wanted: dict[str, set] = {}
    for f in fields:
        target = getattr(f, "reference", None)
        source = getattr(f, "reference_from", None)
        if not target and not source:
            continue
        for record in records:
            value = f.value_of(record)
            if value in (None, ""):
                continue
            if source:
                kind = record.get(source)
                if isinstance(kind, str) and references.target_model(kind) is not None:
                    wanted.setdefault(kind, set()).add(value)
                continue
            if getattr(f, "widget", None) == "path":
                wanted.setdefault(target, set()).update(
                    int(p) for p in str(value).strip("/").split("/") if p.isdigit()
                )
            else:
                wanted.setdefault(target, set()).add(value)
    cache = _cache()
    for target, ids in wanted.items():
        known = cache.setdefault(target, {})
        missing = {i for i in ids if _key(i) not in known}
        if not missing:
            continue
        found = labels(actor, target, missing)
        for value in missing:
            known[_key(value)] = found.get(_key(value))


def _key(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def label_of(target: str, value) -> str | None:
    """The name of record ``value`` of ``target`` for this page's viewer (None when unreadable)."""
    if value in (None, ""):
        return None
    known = _cache().setdefault(target, {})
    key = _key(value)
    if key not in known:
        known[key] = labels(web_actor(), target, [value]).get(key)
    return known[key]


def _page_of(target: str) -> str | None:
    """The generic page resource of ``target`` when it has one the viewer may open."""
    if target in NOT_GENERIC or not (target.startswith("objects.") or target in cruds()):
        return None
    actor = web_actor()
    return target if actor is not None and permissions.can(actor, target, "read") else None


@bp.app_template_global("ref_label")
def ref_label(field, value) -> Markup:
    """A reference as the page shows it: the name (linked to the record's page when it has one),
    or ``#id`` when the viewer may not read the record."""
    target = getattr(field, "reference", None)
    if not target or value in (None, ""):
        return Markup("")
    name = label_of(target, value)
    if name is None:
        return Markup(f'<span class="crm-readonly">#{escape(value)}</span>')
    page = _page_of(target)
    if page is None:
        return Markup(f'<span data-ref="{escape(value)}">{escape(name)}</span>')
    href = url_for("web.record_detail", resource=page, record_id=_key(value))
    return Markup(f'<a href="{escape(href)}" data-ref="{escape(value)}">{escape(name)}</a>')


@dataclass(frozen=True)
class _Pointer:
    """A reference field seen with one record's target (for :func:`ref_label_of`)."""

    reference: str


@bp.app_template_global("ref_label_of")
def ref_label_of(field, record) -> Markup:
    """A polymorphic reference (``related_id`` with ``related_type``) of ``record`` by name."""
    kind = record.get(field.reference_from)
    value = field.value_of(record)
    if not isinstance(kind, str) or references.target_model(kind) is None:
        return Markup("") if value in (None, "") else Markup(escape(value))
    return ref_label(_Pointer(kind), value)


@bp.app_template_global("path_label")
def path_label(field, value) -> str:
    """A materialized path (``/1/4/9/``) of ``field.reference`` records as their names
    (``Head office / East / Shanghai``), leaving out the ones the viewer may not read."""
    target = getattr(field, "reference", None)
    if not target or not value:
        return ""
    ids = [int(p) for p in str(value).strip("/").split("/") if p.isdigit()]
    known = _cache().setdefault(target, {})
    missing = [i for i in ids if i not in known]
    if missing:
        found = labels(web_actor(), target, missing)
        for i in missing:
            known[i] = found.get(i)
    return " / ".join(known[i] for i in ids if known.get(i))


@bp.app_template_global("ref_name")
def ref_name(field, value) -> str:
    """The plain name of a reference for an input's text (empty when unreadable)."""
    target = getattr(field, "reference", None)
    if not target or value in (None, ""):
        return ""
    return label_of(target, value) or ""


def user_name(user_id) -> str:
    """The display name of user ``user_id`` for pages (owner, assignee), when the viewer may read
    that user (``users:read`` scope); otherwise ``#id``. Names
    of a page's users are loaded together (:func:`prime`)."""
    if user_id in (None, ""):
        return ""
    try:
        name = label_of("users", int(user_id))
    except (TypeError, ValueError):
        return str(user_id)
    return name or f"#{user_id}"


#: Reference columns shown by the name of what they point to, and where that record's page is.
REFERENCE_PAGES = {"customer_id": "customers", "company_id": "companies", "parent_id": None}


def stage_or_pipeline_name(field: str, value) -> str:
    """The name of the pipeline or stage ``value`` (configuration, readable by whoever reads the
    deal), loaded once per request; the bare id when unknown."""
    if value in (None, ""):
        return ""
    names = g.get("_crm_pipeline_names")
    if names is None:
        names = {
            "pipeline_id": dict(Pipeline.select(Pipeline.id, Pipeline.name).tuples()),
            "stage_id": dict(Stage.select(Stage.id, Stage.name).tuples()),
        }
        g._crm_pipeline_names = names
    try:
        return names.get(field, {}).get(int(value)) or f"#{value}"
    except (TypeError, ValueError):
        return str(value)
