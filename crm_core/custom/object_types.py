"""Custom object types by name: whether one exists, its definition, and its model class.

``object_model("course")`` is a subclass of :class:`ObjectRecord` whose ``select``, ``update`` and
``delete`` are confined to ``type = 'course'`` and whose inserts default to it. Defining, changing
and deleting types is :mod:`crm_core.custom.objects`; this module reads the cached definitions only,
so :mod:`crm_core.custom.extensible` can ask it which entities exist.
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
        return pw.ModelSelect(cls, fields or cls._meta.sorted_fields, is_default=not fields).where(
            cls.type == type_name
        )

    def update(cls, __data=None, **update):
        return pw.ModelUpdate(cls, cls._normalize_data(__data, update)).where(cls.type == type_name)

    def delete(cls):
        return pw.ModelDelete(cls).where(cls.type == type_name)

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
