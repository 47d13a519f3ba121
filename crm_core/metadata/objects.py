"""Custom object types: one table for every type's records, one model class per type.

``object_model("course")`` is a subclass of :class:`ObjectRecord` whose ``select``, ``update`` and
``delete`` are confined to ``type = 'course'`` and whose inserts default to it. The generic list
API, write path and permission functions take it like any core model, so custom objects get the
same filters, sorting, search, scopes, audit and events with no special cases.
"""

from __future__ import annotations

import threading

import peewee as pw

from .fielddefs import cache_entry
from .models import ObjectRecord

_models: dict[str, type] = {}
_lock = threading.Lock()


def type_names() -> list[str]:
    """Names of the defined custom object types."""
    return list(cache_entry()["types"])


def type_exists(name: str) -> bool:
    """True when the custom object type ``name`` is defined in the bound database."""
    return name in cache_entry()["types"]


def object_type(name: str) -> dict | None:
    """The JSON-ready definition of one custom object type, or None."""
    return cache_entry()["types"].get(name)


def object_model(type_name: str) -> type:
    """The model class of the records of custom object type ``type_name`` (cached per type)."""
    model = _models.get(type_name)
    if model is not None:
        return model
    with _lock:
        model = _models.get(type_name)
        if model is None:
            model = _make_model(type_name)
            _models[type_name] = model
    return model


def _make_model(type_name: str) -> type:
    class Meta:
        table_name = ObjectRecord._meta.table_name

    def select(cls, *fields):
        return pw.Model.select.__func__(cls, *fields).where(cls.type == type_name)

    def update(cls, __data=None, **update):
        return pw.Model.update.__func__(cls, __data, **update).where(cls.type == type_name)

    def delete(cls):
        return pw.Model.delete.__func__(cls).where(cls.type == type_name)

    attrs = {
        "__module__": __name__,
        "__doc__": f"Records of the custom object type {type_name!r}.",
        "Meta": Meta,
        "type": pw.CharField(max_length=64, index=True, default=type_name),
        "crm_entity": f"objects.{type_name}",
        "crm_type": type_name,
        "select": classmethod(select),
        "update": classmethod(update),
        "delete": classmethod(delete),
    }
    class_name = "Object_" + "".join(part.capitalize() for part in type_name.split("_"))
    return type(class_name, (ObjectRecord,), attrs)
