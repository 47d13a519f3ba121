"""Which collections the generic pages can show, and how to render their fields.

The generic list / detail / form pages are built from what the API already has:

- every ``Crud`` that ``crm_core.api.crud.register_crud`` mounted on the app (core objects and
  plugins), found once per app from its views, so a plugin that registers a collection gets its
  pages with no extra code;
- custom object types (``objects.<type>``), looked up on each request since they are created at
  runtime;
- the custom fields of each entity (``crm_core.custom.custom_fields``), read on every render so
  a field added at runtime shows up at once.

The read decision (``crm_core.permissions.view``) decides what each user sees: hidden fields are
dropped before rendering, read-only ones are shown but never offered as inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from marshmallow import fields as mf
from marshmallow import validate as mv

from .. import permissions
from ..api.crud import Crud
from ..api.metadata import ObjectRecordSchema
from ..custom import custom_fields, objects
from ..errors import APIError
from ..records import bulk_update
from ..records.collections import collections

# the labels live with the records: importers and error messages use them too (re-exported here)
from ..records.labels import FIELD_LABELS, RESOURCE_LABELS  # noqa: F401
from ..records.references import references_of
from .messages import translate_message

#: Collections that have pages of their own rather than the generic ones, or none at all.
NOT_GENERIC = frozenset({"users", "roles", "departments", "audit"})

#: Skipped in forms: the database and the service own them.
SYSTEM_FIELDS = ("id", "created_at", "updated_at", "custom")


#: Labels of the core objects' fixed values (statuses, priorities, stages...).
VALUE_LABELS = {
    "lead": _l("lead"),
    "prospect": _l("prospect"),
    "customer": _l("customer"),
    "vip": _l("VIP"),
    "churned": _l("churned"),
    "male": _l("male"),
    "female": _l("female"),
    "other": _l("other"),
    "unknown": _l("unknown"),
    "note": _l("note"),
    "call": _l("call"),
    "meeting": _l("meeting"),
    "task": _l("task"),
    "low": _l("low"),
    "normal": _l("normal"),
    "high": _l("high"),
    "urgent": _l("urgent"),
    "new": _l("new"),
    "assigned": _l("assigned"),
    "in_progress": _l("in progress"),
    "resolved": _l("resolved"),
    "closed": _l("closed"),
    "open": _l("open"),
    "won": _l("won"),
    "lost": _l("lost"),
    # acquisition channels and industries (free text, but these codes are the usual ones)
    "wechat": _l("WeChat"),
    "douyin": _l("Douyin"),
    "xiaohongshu": _l("Xiaohongshu"),
    "weibo": _l("Weibo"),
    "kol": _l("KOL (influencer)"),
    "store": _l("store"),
    "retail": _l("retail"),
    "wholesale": _l("wholesale"),
    "distribution": _l("distribution"),
    "manufacturing": _l("manufacturing"),
    "website": _l("website"),
    "referral": _l("referral"),
    "exhibition": _l("exhibition"),
    # the core's resources (role grid, custom-field entities, related records)
    "customers": _l("Customers"),
    "companies": _l("Companies"),
    "contacts": _l("Contacts"),
    "deals": _l("Deals"),
    "activities": _l("Activities"),
    "tickets": _l("Tickets"),
    "tags": _l("Tags"),
    "segments": _l("Segments"),
    "users": _l("Users"),
    "roles": _l("Roles"),
    "departments": _l("Departments"),
    "webhooks": _l("Webhooks"),
    "automations": _l("Automations"),
    "audit": _l("Audit log"),
    "oauth_clients": _l("OAuth clients"),
    "objects.*": _l("Custom objects (all types)"),
    "pipelines": _l("Pipelines"),
    # permission actions and field rules
    "read": _l("read"),
    "create": _l("create"),
    "update": _l("update"),
    "delete": _l("delete"),
    "export": _l("export"),
    "run": _l("run"),
    "retry": _l("retry"),
    "login": _l("log in"),
    "reveal_secret": _l("reveal the secret"),
    "purge": _l("purge"),
    "rekey": _l("re-key"),
    "fields": _l("Custom fields"),
    "object_types": _l("Custom object types"),
    "jobs": _l("Scheduled jobs"),
    "events": _l("Domain events (outbox)"),
    "hidden": _l("hidden"),
    "read-only": _l("read-only"),
    # custom field types
    "string": _l("short text"),
    "text": _l("long text"),
    "int": _l("whole number"),
    "decimal": _l("decimal number"),
    "bool": _l("yes/no"),
    "date": _l("date"),
    "datetime": _l("date and time"),
    "choice": _l("choice"),
    "multi-choice": _l("multiple choice"),
    "reference": _l("reference"),
    "email": _l("e-mail"),
    "phone": _l("phone"),
    "url": _l("web address"),
}

#: fields holding free text whose usual values are codes of :data:`VALUE_LABELS` (shown labelled)
CODED_FIELDS = frozenset({"source_channel", "industry", "related_type", "entity", "channel"})


def value_label(value, field: str | None = None) -> str:
    """The translated label of a fixed value (``in_progress`` -> "in progress"), else the value.

    With ``field``, only values of :data:`CODED_FIELDS` are labelled (other free text, such as a
    name that happens to read "lead", is shown as typed). Custom object types show their label.
    """
    if field is not None and field not in CODED_FIELDS:
        return "" if value is None else str(value)
    label = VALUE_LABELS.get(value) if isinstance(value, str) else None
    if label is None and isinstance(value, str) and value.startswith("objects."):
        try:
            label = dict(object_types()).get(value)
        except Exception:  # no database at hand (CLI, a failed request): the code will do
            label = None
    if label is None and field is None and isinstance(value, str):
        label = translate_message(value)  # a plugin's code its own catalogue translates ("redeem")
    return str(label) if label is not None else ("" if value is None else str(value))


LONG_TEXT = ("body", "description", "close_reason", "address")
BOOKKEEPING = ("owner_id", "department_id", "created_at", "updated_at", "id")


#: ``FormField.empty`` of a field whose schema accepts neither None nor "" (it must keep a value).
NOT_CLEARABLE = "__not_clearable__"


def _empty_value(schema_field):
    """What the schema accepts for an emptied optional input: None when it allows None, "" for
    a text field that does not, else ``NOT_CLEARABLE``."""
    if schema_field.allow_none:
        return None
    if isinstance(schema_field, mf.String) and not _one_of(schema_field):
        return ""
    return NOT_CLEARABLE


@dataclass
class FormField:
    """One field as the pages render it (core column or custom field)."""

    name: str  # API name; custom fields are ``custom.<name>`` in forms and errors
    key: str  # key in the dumped record (custom fields: the plain name inside ``custom``)
    label: str
    widget: str  # text, textarea, number, decimal, date, datetime, checkbox, select, multiselect, email,
    # tags, json, reference (a picker), path (a materialized path shown as names)
    custom: bool = False
    required: bool = False
    writable: bool = True  # False: dump-only or read-only for this user
    #: shown partly to this user (a ``masked-writable`` field when writable): an edit form starts
    #: its input empty, the masked value as placeholder, and an input left empty keeps the value
    masked: bool = False
    choices: list = field(default_factory=list)  # [(value, label)]
    sortable: bool = True
    filterable: bool = False
    help: str = ""
    #: the target a reference field points to (``users``, ``customers``, ``loyalty.tiers``...):
    #: shown by name, chosen with a picker (``crm_core.web.lookup``)
    reference: str | None = None
    #: another input whose value narrows this picker (a stage by its ``pipeline_id``)
    depends_on: str | None = None
    #: the field naming the target of a polymorphic reference (``related_id`` by ``related_type``)
    reference_from: str | None = None
    #: what an emptied input sends on edit: None, "" (a text that may be blank), or
    #: ``NOT_CLEARABLE`` (the schema takes neither: the field cannot be emptied)
    empty: object = None

    @property
    def clearable(self) -> bool:
        """True when the input may be left empty on edit (the schema takes an empty value)."""
        return self.custom or self.empty != NOT_CLEARABLE

    def value_of(self, record: dict):
        """This field's value in a dumped (masked) record dict."""
        if self.custom:
            return (record.get("custom") or {}).get(self.key)
        return record.get(self.key)


@dataclass
class WebResource:
    """A collection the generic pages serve."""

    resource: str
    crud: Crud
    label: str

    @property
    def model(self):
        """The peewee model of the collection."""
        return self.crud.model

    @property
    def schema(self):
        """The marshmallow schema that loads and dumps its records."""
        return self.crud.schema

    @property
    def has_tags(self) -> bool:
        """True when records carry tags (bulk tagging, tag filter)."""
        return bulk_update.has_tags(self.crud)

    @property
    def has_custom(self) -> bool:
        """True when records carry custom fields."""
        return "custom" in self.model._meta.fields

    def list_options(self) -> dict:
        """Keyword arguments for ``listing.list_query`` (search fields, extra filters...)."""
        options = getattr(self.crud, "list_options", None)
        return options() if options else {}


def cruds() -> dict[str, Crud]:
    """The registered collections of this app by resource (cached on the app)."""
    crm = current_app.extensions["crm"]
    cached = getattr(crm, "_web_cruds", None)
    if cached is None:
        cached = {r: c for r, c in collections().items() if r not in NOT_GENERIC}
        crm._web_cruds = cached
    return cached


def _object_resource(type_name: str) -> WebResource | None:
    if not objects.type_exists(type_name):
        return None
    model = objects.object_model(type_name)
    crud = Crud(f"objects.{type_name}", model, ObjectRecordSchema(), ObjectRecordSchema(many=True))
    info = objects.object_type(type_name) or {}
    return WebResource(crud.resource, crud, _localised(info.get("label")) or type_name)


def _localised(label) -> str:
    """Pick the current language's text from a ``{"en": ..., "zh-CN": ...}`` label."""
    if not label:
        return ""
    if isinstance(label, str):
        return label
    zh = str(get_locale() or "").startswith("zh")
    return (
        (label.get("zh-CN") or label.get("zh") if zh else None)
        or label.get("en")
        or next(iter(label.values()), "")
    )


def resource_label(resource: str) -> str:
    """A collection's name for people: the core's label, else the label its plugin gave it in
    ``crm_permissions`` (translated by the plugin's catalogue), else its code."""
    label = RESOURCE_LABELS.get(resource)
    if label is None:
        label = permissions.resources().get(resource, {}).get("label") or resource
    return str(label)


def get_resource(resource: str) -> WebResource:
    """The collection ``resource``; 404 when there is none (or it has its own pages)."""
    if resource.startswith("objects."):
        found = _object_resource(resource.split(".", 1)[1])
    else:
        crud = cruds().get(resource)
        found = WebResource(resource, crud, resource_label(resource)) if crud else None
    if found is None:
        raise APIError(404, f"No collection {resource!r}.")
    return found


def object_types() -> list[tuple[str, str]]:
    """``(resource, label)`` of every custom object type."""
    out = []
    for name in objects.type_names():
        info = objects.object_type(name) or {}
        out.append((f"objects.{name}", _localised(info.get("label")) or name))
    return out


def _one_of(schema_field) -> list:
    validators = schema_field.validators if hasattr(schema_field, "validators") else []
    for v in validators:
        if isinstance(v, mv.OneOf):
            return list(v.choices)
    return []


def _widget(name: str, schema_field) -> str:
    if isinstance(schema_field, mf.List):
        return "json" if isinstance(schema_field.inner, mf.Nested | mf.Dict) else "tags"
    if isinstance(schema_field, mf.Dict) or type(schema_field) is mf.Raw:
        return "json"
    if _one_of(schema_field):
        return "select"
    if isinstance(schema_field, mf.Boolean):
        return "checkbox"
    if isinstance(schema_field, mf.DateTime):
        return "datetime"
    if isinstance(schema_field, mf.Date):
        return "date"
    if isinstance(schema_field, mf.Decimal):
        return "decimal"
    if isinstance(schema_field, mf.Integer | mf.Float):
        return "number"
    if isinstance(schema_field, mf.Email) or name == "email":
        return "email"
    if name in LONG_TEXT:
        return "textarea"
    return "text"


CUSTOM_WIDGETS = {
    "string": "text",
    "text": "textarea",
    "int": "number",
    "reference": "reference",
    "decimal": "decimal",
    "bool": "checkbox",
    "date": "date",
    "datetime": "datetime",
    "choice": "select",
    "multi-choice": "multiselect",
    "email": "email",
    "phone": "text",
    "url": "text",
}


def fields_for(res: WebResource, actor, *, for_form: bool = False) -> list[FormField]:
    """The fields ``actor`` may see on ``res`` (core then custom), hidden ones left out.

    With ``for_form`` the system columns are skipped and ``writable`` says whether an input is
    offered (dump-only and read-only fields are shown as text).
    """
    view = permissions.view(actor, res.resource)
    refs = references_of(res.model, res.resource)
    out: list[FormField] = []
    sortable_columns = set(res.model._meta.fields) | {f.column_name for f in res.model._meta.fields.values()}
    for name, schema_field in res.schema.fields.items():
        if schema_field.load_only or not view.visible(name) or name == "custom":
            continue
        if for_form and name in SYSTEM_FIELDS:
            continue
        choices = [(c, value_label(c)) for c in _one_of(schema_field)]
        widget = _widget(name, schema_field)
        ref = refs.get(name) if widget == "number" else None
        out.append(
            FormField(
                name=name,
                key=schema_field.data_key or name,
                label=str(FIELD_LABELS.get(name, name.replace("_", " ").capitalize())),
                widget="reference" if ref else widget,
                required=bool(schema_field.required),
                writable=not schema_field.dump_only and name not in view.read_only,
                masked=name in view.masked,
                choices=choices,
                sortable=name in sortable_columns and name not in view.masked,
                filterable=bool(choices) or name in ("owner_id", "department_id"),
                reference=ref.target if ref else None,
                depends_on="pipeline_id"
                if ref and ref.target == "stages" and "pipeline_id" in refs
                else None,
                empty=_empty_value(schema_field),
            )
        )
    # a polymorphic reference (an activity's ``related_id``) is named by its type's record
    for f in out:
        if f.name == "related_id" and "related_type" in res.schema.fields:
            f.reference_from = "related_type"
    # a materialized path (``/1/4/9/``, companies) is shown as the names along it
    parent = refs.get("parent_id")
    for f in out:
        if f.name == "path" and parent is not None and parent.target == res.resource:
            f.widget, f.reference, f.sortable = "path", res.resource, False
    # bookkeeping columns (ownership, id, timestamps) after the record's own fields
    out.sort(key=lambda f: BOOKKEEPING.index(f.name) + 1 if f.name in BOOKKEEPING else 0)
    if res.has_custom:
        for fd in custom_fields(res.resource):
            if not view.visible(fd.name):
                continue
            out.append(
                FormField(
                    name=f"custom.{fd.name}",
                    key=fd.name,
                    label=_localised(fd.label) or fd.name,
                    widget=CUSTOM_WIDGETS.get(fd.type, "text"),
                    custom=True,
                    required=fd.required,
                    writable=fd.name not in view.read_only,
                    masked=fd.name in view.masked,
                    choices=[(c["value"], _localised(c.get("label")) or c["value"]) for c in fd.choices],
                    # an encrypted field is never sorted, and filtered only by exact value
                    sortable=not fd.encrypted and fd.name not in view.masked,
                    filterable=fd.name not in view.masked
                    and (fd.blind_index if fd.encrypted else fd.filterable or fd.type in ("choice", "bool")),
                    help=_localised(fd.help),
                    reference=fd.reference if fd.type == "reference" else None,
                )
            )
    return out


def hidden_fields(res: WebResource, actor) -> set[str]:
    """Names of the fields of ``res`` hidden from ``actor`` (core and custom, plain names)."""
    return set(permissions.view(actor, res.resource).hidden)
