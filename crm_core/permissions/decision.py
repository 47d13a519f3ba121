"""``View``: the one read decision. What an actor may see of a resource, for one action.

Every read path (lists, detail, ``q`` search, filters and sort, exports, timelines, customer 360,
audit views, privacy export, segments, webhook payloads, web pages, plugin APIs) asks a ``View``
and nothing else::

    view = permissions.view(actor, "customers")          # read
    query = view.apply(Customer.select())                # row scope + plugin filters as SQL
    data = view.dump(CustomerSchema().dump(record))      # hidden fields left out
    view.searchable(text_fields)                         # never hidden or secret columns

A ``View`` for an action other than ``read`` is bounded by the read scope as well (export, update,
delete and assign never reach a row the actor cannot read: DESIGN section 11). An actor with no
grant gets a ``View`` that is not ``allowed``: ``apply`` raises 403 and ``dump`` keeps only ids,
so a caller that forgets to check fails closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..crypto import prefetch
from ..errors import APIError
from .fields import MASKED_RULES, field_rules, shown
from .grants import _cache, _hook, effective_scope
from .scopes import _in_area, _scope_condition

#: Keys a dump keeps for an actor who may not read the resource at all (``View.dump`` fails closed).
ID_KEYS = frozenset({"id", "resource", "type", "event"})

#: Column names that are never searchable, filterable or sortable, whatever the model declares:
#: matching on them would let a reader recover their value one character at a time.
SECRET_NAMES = frozenset({"secret", "password", "password_hash", "token", "token_hash", "key_hash"})


def secret_columns(model) -> frozenset[str]:
    """Names of ``model``'s columns that no read path may match, filter or sort on: the model's
    ``secret_fields`` attribute plus the conventional names in ``SECRET_NAMES``."""
    declared = frozenset(getattr(model, "secret_fields", ()) or ())
    return declared | {name for name in model._meta.fields if name in SECRET_NAMES}


class View:
    """What ``actor`` may see of ``resource`` when doing ``action``.

    Build it with :func:`crm_core.permissions.view`. Attributes: ``scope`` (the widest granted
    row scope for the action, None when not granted), ``read_scope``, ``allowed``, ``rules``
    (``{field: "hidden" | "masked" | "masked-writable" | "read-only"}``), ``hidden``, ``masked``
    (both masked rules) and ``read_only`` (frozensets; ``read_only`` holds the ``masked`` fields
    too, never the ``masked-writable`` ones).
    """

    def __init__(self, actor, resource: str, action: str = "read"):
        self.actor = actor
        self.resource = resource
        self.action = action
        self.scope = effective_scope(actor, resource, action)
        self.read_scope = self.scope if action == "read" else effective_scope(actor, resource, "read")
        self.allowed = self.scope is not None and self.read_scope is not None
        self.rules = field_rules(actor, resource) if self.allowed else {}
        self.hidden = frozenset(f for f, rule in self.rules.items() if rule == "hidden")
        # masked fields are shown partly and, unless masked-writable, never written (forms show
        # them as text); like hidden ones they are never searched, filtered or sorted on
        self.masked = frozenset(f for f, rule in self.rules.items() if rule in MASKED_RULES)
        self.read_only = frozenset(f for f, rule in self.rules.items() if rule in ("read-only", "masked"))
        self._contains: dict = {}

    def __repr__(self) -> str:
        who = getattr(self.actor, "id", None)
        return f"<View {self.resource}:{self.action} actor={who} scope={self.scope} hidden={sorted(self.hidden)}>"

    # --- rows ----------------------------------------------------------------------------------

    def require(self) -> None:
        """Raise ``APIError(403)`` unless a role grants the action (and read, for other actions)."""
        if not self.allowed:
            missing = self.action if self.scope is None else "read"
            raise APIError(403, f"Not allowed: {self.resource}:{missing}.")

    def conditions(self, model) -> list:
        """The WHERE expressions bounding the rows of ``model`` (empty: every row); 403 when not
        allowed. Includes every plugin's ``crm_permission_filter`` for the action (and for read)."""
        conds = self.image_conditions(model)
        # every action needs read as well: export, update, delete never reach an unreadable row
        for action in dict.fromkeys((self.action, "read")):
            conds += _filters(model, self.actor, action, self.resource)
        return conds

    def apply(self, query, model=None):
        """``query`` AND-ed with :meth:`conditions` (its model, or ``model`` for a join)."""
        for cond in self.conditions(model or query.model):
            query = query.where(cond)
        return query

    def contains(self, record) -> bool:
        """True when the saved peewee row ``record`` lies inside the view (asks the database only
        when a scope or a plugin filter bounds the rows)."""
        if not self.allowed or record is None:
            return False
        model = type(record)
        conds = self.conditions(model)
        if not conds:
            return True
        # the view lives for one request: a record is asked about twice on a write (the view's
        # get_record, then the service's require), and its placement is checked before it moves
        key = (model._meta.table_name, record._pk)
        if key not in self._contains:
            pk = model._meta.primary_key
            self._contains[key] = model.select(pk).where(pk == record._pk, *conds).exists()
        return self._contains[key]

    def contains_image(self, image: dict | None) -> bool:
        """True when a record image (a dict with ``owner_id`` / ``department_id``, e.g. from an
        event) lies inside the row scope. An image without ownership keys is not row-scoped; a
        missing image is inside only for an ``all`` scope. Plugin filters need the row itself:
        use :meth:`contains` when it still exists."""
        if not self.allowed:
            return False
        scopes = {self.scope, self.read_scope}
        return all(_image_in_scope(self.actor, scope, image) for scope in scopes)

    # --- fields --------------------------------------------------------------------------------

    def dump(self, data: Any):
        """A copy of ``data`` (a dumped dict or a list of them) without the hidden fields, keys
        inside ``custom`` included. Not allowed: only the id keys (``ID_KEYS``) are kept."""
        if isinstance(data, list):
            prefetch(data)
            return [self.dump(item) if isinstance(item, dict) else item for item in data]
        if not isinstance(data, dict):
            return data
        if not self.allowed:
            return {k: v for k, v in data.items() if k in ID_KEYS}
        return shown(self.resource, data, self.hidden, self.masked)

    def visible(self, name: str) -> bool:
        """True when the field ``name`` (a column or a custom field) may be shown."""
        return self.allowed and name not in self.hidden

    def searchable(self, fields: Iterable, model=None) -> list:
        """The ``fields`` (peewee fields or names) that a search, filter or sort may touch: never a
        hidden field, nor a secret column of ``model`` (see :func:`secret_columns`)."""
        secrets = secret_columns(model) if model is not None else frozenset()
        out = []
        for field in fields:
            names = {field} if isinstance(field, str) else _names_of(field)
            model_of = getattr(field, "model", None)
            field_secrets = secrets | (secret_columns(model_of) if model_of is not None else frozenset())
            # a masked field as well: a prefix search would recover it one character at a time
            if names & (self.hidden | self.masked) or names & field_secrets or names & SECRET_NAMES:
                continue
            out.append(field)
        return out

    def image_conditions(self, model) -> list:
        """The row scope (of the action and of read) as WHERE expressions on ``model``: the
        resource's own model (:meth:`conditions` adds the plugin filters to these) or a table of
        *images* of its records carrying their ``owner_id`` / ``department_id`` (audit entries).
        Empty for an ``all`` scope; 403 when not allowed. Plugin filters are left out, since they
        name the resource's own model."""
        self.require()
        scopes = dict.fromkeys((self.scope, self.read_scope))  # one condition when they are the same
        conds = (_scope_condition(model, self.actor, scope) for scope in scopes)
        return [c for c in conds if c is not None]

    def contains_id(self, model, record_id) -> bool:
        """True when the row ``record_id`` of ``model`` exists and lies inside the view (for
        messages that would otherwise name a record the actor cannot read, e.g. a 409 conflict)."""
        if not self.allowed or record_id is None:
            return False
        pk = model._meta.primary_key
        return self.apply(model.select(pk).where(pk == record_id), model).exists()

    def readable_ids(self, model, ids: Iterable) -> set:
        """The subset of ``ids`` (primary keys of ``model``) inside the view, in one query."""
        ids = sorted({i for i in ids if i is not None})
        if not self.allowed or not ids:
            return set()
        pk = model._meta.primary_key
        query = self.apply(model.select(pk).where(pk.in_(ids)), model)
        return {row[0] for row in query.tuples()}


def _filters(model, actor, action, resource=None):
    return [
        expr
        for expr in _hook().crm_permission_filter(actor=actor, action=action, model=model, resource=resource)
        if expr is not None
    ]


def view(actor, resource: str, action: str = "read") -> View:
    """The one read decision: a :class:`View` of ``resource`` for
    ``actor`` doing ``action`` (row scope as SQL, hidden and read-only fields, masked dumps,
    in-scope tests). Cached per request. Every read path uses it."""
    cache = _cache()
    scopes = getattr(actor, "scopes", None)
    key = (
        "view",
        getattr(actor, "id", None),
        getattr(actor, "roles", None),
        None if scopes is None else frozenset(scopes),
        resource,
        action,
    )
    if key not in cache:
        cache[key] = View(actor, resource, action)
    return cache[key]


def event_data(actor, event, memo: dict | None = None) -> dict | None:
    """An event's ``data`` as ``actor`` may see it (webhook payloads, the events API): through
    ``view(actor, event.resource)`` the hidden fields are left out (and not named as changed);
    None when the actor may not read the resource or the record image lies outside its row scope.
    Fails closed: an event without a resource, or without an actor to ask for, keeps only its id
    keys (:func:`closed`), unless its emitter declared it public (``emit(..., public=True)``).
    ``memo`` keeps each actor's view per resource across a batch of events."""
    data = event.data if isinstance(event.data, dict) else {}
    if (event.meta or {}).get("public"):
        return data
    if event.resource is None or actor is None:
        return closed(data)
    memo = {} if memo is None else memo
    key = (actor.id, event.resource)
    if key not in memo:
        memo[key] = view(actor, event.resource, "read")
    seen = memo[key]
    if not seen.allowed:
        return None
    # a record event carries the record's image in ``object``; other events may carry their own
    # ``owner_id`` / ``department_id`` (an image without them is not row-scoped)
    obj = data.get("object") if isinstance(data.get("object"), dict) else None
    if not seen.contains_image(obj if obj is not None else data):
        return None
    # a record's images go through the dump even when nothing is hidden: it opens encrypted values
    if "object" in data and data.get("resource") == event.resource:
        out = dict(data)
        for name in ("object", "previous"):
            if isinstance(out.get(name), dict):
                out[name] = seen.dump(out[name])
        if isinstance(out.get("changed"), list):
            out["changed"] = [field for field in out["changed"] if seen.visible(field)]
        return out
    return seen.dump(data)


def closed(data: Any):
    """What anyone may see of ``data`` whose resource is unknown: only the id keys (``ID_KEYS``);
    lists item by item. The fail-closed dump of :meth:`View.dump`, for payloads that name no
    resource (events emitted without one and not declared public)."""
    if isinstance(data, list):
        return [closed(item) if isinstance(item, dict) else item for item in data]
    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if k in ID_KEYS}


def _names_of(field) -> set:
    """The names a search/filter/sort term goes by: a column's name and column name, a custom
    field expression's field name (``CustomExpression.fd``)."""
    names = {getattr(field, "name", None), getattr(field, "column_name", None)}
    fd = getattr(field, "fd", None)
    if fd is not None:
        names.add(getattr(fd, "name", None))
    names.discard(None)
    return names


def _image_in_scope(actor, scope: str | None, image: dict | None) -> bool:
    """The Python twin of ``_scope_condition`` for a dict image (events, deleted records)."""
    if scope is None:
        return False
    if scope == "all":
        return True
    if image is None:
        return False
    if "owner_id" not in image and "department_id" not in image:
        return True
    owner = image.get("owner_id")
    if owner is not None and owner == actor.id:
        return True
    # beyond the owner, ``own`` reaches nothing; the wider scopes reach the image's department as
    # they reach a placed record's
    return scope != "own" and _in_area(actor, scope, image.get("department_id"))
