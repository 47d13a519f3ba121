"""The fields and operators the visual builders offer (segment filters, automation conditions).

Both builders show rows of (field, operator, value). Which fields a row may name is decided by
the permission module only: ``permissions.view(actor, "customers", "read")`` and the list API's
own field resolver (``listing.Fields``, which keeps only ``view.searchable`` columns and custom
fields not hidden from the actor). A hidden field or a secret column is never offered, and a
posted row that names one is refused as an unknown field.

The value input of a row follows the field's type: choices are selects with translated labels,
dates and numbers get their own inputs, tags a comma-separated list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from .. import permissions
from ..auth.models import Department, User
from ..entities.models import Customer, Tag
from ..errors import APIError
from ..records import listing
from .automation_editor_events import event_types
from .registry import fields_for, get_resource

#: Operator labels; ``not_exists``, ``tag_all`` and ``tag_any`` are the builders' own names
#: (``exists`` with ``false``, and the customer list's ``tag`` filter "all of" / "any of").
OPERATOR_LABELS = {
    "eq": _l("is"),
    "ne": _l("is not"),
    "in": _l("is any of"),
    "not_in": _l("is none of"),
    "gt": _l("greater than"),
    "gte": _l("at least"),
    "lt": _l("less than"),
    "lte": _l("at most"),
    "contains": _l("contains"),
    "not_contains": _l("does not contain"),
    "startswith": _l("starts with"),
    "exists": _l("is set"),
    "not_exists": _l("is not set"),
    "tag_all": _l("has all of"),
    "tag_any": _l("has any of"),
}

#: Value inputs: the registry's form widgets folded into what a filter needs.
WIDGETS = {
    "text": "text",
    "textarea": "text",
    "email": "text",
    "number": "number",
    "decimal": "decimal",
    "date": "date",
    "datetime": "datetime",
    "checkbox": "bool",
    "select": "select",
    "multiselect": "multiselect",
    "tags": "tags",
    "reference": "number",
}

#: Operators of segment filters (the list API's grammar) by value input.
SEGMENT_OPERATORS = {
    "text": ("eq", "ne", "contains", "in"),
    "number": ("eq", "ne", "gt", "gte", "lt", "lte"),
    "decimal": ("eq", "ne", "gt", "gte", "lt", "lte"),
    "date": ("eq", "gt", "gte", "lt", "lte"),
    "datetime": ("gt", "gte", "lt", "lte"),
    "select": ("eq", "ne", "in"),
    "multiselect": ("eq", "ne", "in"),
    "bool": ("eq",),
    "tags": ("tag_all", "tag_any"),
    "search": ("contains",),
}

#: Operators of automation conditions (``crm_core.automations.conditions``) by value input.
CONDITION_OPERATORS = {
    "text": ("eq", "ne", "contains", "not_contains", "startswith", "in", "not_in", "exists", "not_exists"),
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "exists", "not_exists"),
    "decimal": ("eq", "ne", "gt", "gte", "lt", "lte", "exists", "not_exists"),
    "date": ("eq", "gt", "gte", "lt", "lte", "exists", "not_exists"),
    "datetime": ("gt", "gte", "lt", "lte", "exists", "not_exists"),
    "select": ("eq", "ne", "in", "not_in", "exists", "not_exists"),
    "multiselect": ("contains", "not_contains", "exists", "not_exists"),
    "bool": ("eq", "exists", "not_exists"),
    "tags": ("contains", "not_contains"),
    "event": ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "startswith", "in", "exists", "not_exists"),
    # the customer's event history: how many events of a type, or the total of one of their keys
    "count": ("gte", "gt", "eq", "lte", "lt"),
    "sum": ("gte", "gt", "eq", "lte", "lt"),
}

#: Operators whose value is a list (a multiple select, or comma-separated text).
LIST_OPERATORS = frozenset({"in", "not_in", "tag_all", "tag_any"})
#: Operators that take no value.
NO_VALUE = frozenset({"exists", "not_exists"})


@dataclass
class BuilderField:
    """One field a builder row may name."""

    name: str  # what the stored filter or condition calls it
    label: str
    widget: str  # text number decimal date datetime select multiselect bool tags search event
    operators: list[tuple[str, str]]  # [(op, label)]
    choices: list[tuple[str, str]] = field(default_factory=list)  # [(value, label)]
    group: str = ""
    suggestions: list[str] = field(default_factory=list)  # a datalist (tag names)

    @property
    def operator_names(self) -> list[str]:
        """The operators' names, in the order they are offered."""
        return [op for op, _label in self.operators]

    def choice_label(self, value) -> str:
        """The translated label of a choice value (the value itself when it is not a choice)."""
        return next((label for v, label in self.choices if str(v) == str(value)), str(value))


def _ops(names) -> list[tuple[str, str]]:
    return [(op, str(OPERATOR_LABELS[op])) for op in names]


def _reference_choices(actor, name: str) -> list[tuple[str, str]]:
    """Owners and departments as a select when the actor may list users / departments (within
    its scope); otherwise an empty list and the row takes a number."""
    model, resource = (User, "users") if name == "owner_id" else (Department, "departments")
    if not permissions.can(actor, resource, "read"):
        return []
    query = (
        permissions.scoped(model.select(), actor, resource, "read", model=model).order_by(model.id).limit(500)
    )
    if model is User:
        return [(str(u.id), u.name or u.username) for u in query if u.is_active]
    return [(str(d.id), d.name) for d in query]


def tag_names(actor) -> list[str]:
    """Tag names for the tag inputs' suggestions (when the actor may read tags)."""
    if not permissions.can(actor, "tags", "read"):
        return []
    query = permissions.scoped(Tag.select(Tag.name), actor, "tags", "read", model=Tag)
    return [t.name for t in query.order_by(Tag.name).limit(500)]


def customer_fields(actor, operators: dict) -> list[tuple[str, object, str]]:
    """``(plain name, registry FormField, widget)`` of the customer fields ``actor`` may see and
    filter on: the registry's visible fields, kept only when the list API's resolver (built on
    ``view.searchable``) knows them. ``tags`` is the customer list's own ``tag`` filter."""
    view = permissions.view(actor, "customers", "read")
    view.require()
    resolver = listing.Fields(Customer, "customers", view=view)
    out = []
    for f in fields_for(get_resource("customers"), actor):
        if f.name in ("id", "updated_at"):
            continue
        widget = WIDGETS.get(f.widget)
        plain = f.key if f.custom else f.name
        if widget is None:
            continue
        if f.name == "tags":
            if view.visible("tags"):
                out.append((plain, f, "tags"))
            continue
        if resolver.resolve(plain) is None:
            continue
        if f.name in ("owner_id", "department_id"):
            choices = _reference_choices(actor, f.name)
            widget = "select" if choices else "number"
            f.choices = choices
        if widget not in operators:
            continue
        out.append((plain, f, widget))
    return out


def segment_fields(actor) -> list[BuilderField]:
    """The fields a segment filter row may name, for ``actor``."""
    from flask_babel import gettext as _

    out = [
        BuilderField(
            "q",
            _("Name, phone or e-mail"),
            "search",
            _ops(SEGMENT_OPERATORS["search"]),
            group=_("Search"),
        )
    ]
    tags = None
    for plain, f, widget in customer_fields(actor, SEGMENT_OPERATORS):
        name = "tag" if plain == "tags" else plain
        if widget == "tags":
            tags = tag_names(actor) if tags is None else tags
        out.append(
            BuilderField(
                name,
                f.label,
                widget,
                _ops(SEGMENT_OPERATORS[widget]),
                choices=[(str(v), str(label)) for v, label in f.choices],
                group=_("Custom fields") if f.custom else _("Customer"),
                suggestions=tags if widget == "tags" else [],
            )
        )
    return out


def condition_fields(actor) -> list[BuilderField]:
    """The fields an automation condition row may name, for ``actor``: the event's type and
    data, and the customer's fields ``actor`` may see."""
    from flask_babel import gettext as _

    out = [
        BuilderField(
            "event.type", _("Event type"), "text", _ops(CONDITION_OPERATORS["text"]), group=_("Event")
        ),
        BuilderField(
            "event.", _("Event data"), "event", _ops(CONDITION_OPERATORS["event"]), group=_("Event")
        ),
    ]
    tags = None
    try:
        customers = customer_fields(actor, CONDITION_OPERATORS)
    except APIError as exc:
        if exc.code != 403:
            raise
        customers = []  # a rule author who may not read customers gets the event's fields only
    for plain, f, widget in customers:
        name = f"customer.custom.{plain}" if f.custom else f"customer.{plain}"
        if widget == "tags":
            tags = tag_names(actor) if tags is None else tags
        out.append(
            BuilderField(
                name,
                f.label,
                widget,
                _ops(CONDITION_OPERATORS[widget]),
                choices=[(str(v), str(label)) for v, label in f.choices],
                group=_("Customer"),
                suggestions=tags if widget == "tags" else [],
            )
        )
    out += history_fields(actor)
    return out


def history_fields(actor) -> list[BuilderField]:
    """The aggregate rows of a condition (``count`` and ``sum`` over the customer's events of a
    type, ``crm_core.automations.conditions``): their choices are the known event types."""
    from flask_babel import gettext as _

    events = [(value, label) for _group, items in event_types(actor) for value, label in items]
    group = _("Customer's event history")
    return [
        BuilderField(
            "count", _("Number of events"), "count", _ops(CONDITION_OPERATORS["count"]), events, group
        ),
        BuilderField(
            "sum", _("Total of an event value"), "sum", _ops(CONDITION_OPERATORS["sum"]), events, group
        ),
    ]


def split_list(raw) -> list[str]:
    """Comma-separated text (ASCII or full-width commas) as its non-blank parts."""
    return [part.strip() for part in str(raw or "").replace("，", ",").split(",") if part.strip()]
